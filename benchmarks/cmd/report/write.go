package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rotasafe/rotasafe/benchmarks/fleet"
)

// dur formats nanoseconds with a unit that suits them; NaN is a dash.
func dur(ns float64) string {
	switch {
	case math.IsNaN(ns):
		return "—"
	case ns < 1e3:
		return fmt.Sprintf("%.1f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	case ns < 1e9:
		return fmt.Sprintf("%.1f ms", ns/1e6)
	}
	return fmt.Sprintf("%.2f s", ns/1e9)
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	if v == math.Trunc(v) || math.Abs(v) >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// times formats a ratio already computed.
func times(q float64) string {
	if math.IsNaN(q) || math.IsInf(q, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", q)
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func writeReport(w io.Writer, o options, m machineInfo, r results, fleets []*fleet.Result, fleetErrs []string, rec map[string][]time.Duration, charts map[string]string, took time.Duration) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("# rotasafe benchmarks")
	p("")
	p("Produced by this command, run in `benchmarks/` (%s; it took %v here):", time.Now().UTC().Format("2006-01-02"), took.Round(time.Second))
	p("")
	p("```")
	p("%s", strings.Join(append([]string{"go run ./cmd/report"}, os.Args[1:]...), " "))
	p("```")
	p("")
	if o.quick {
		p("**This is a -quick run: the numbers are too few to report.**")
		p("")
	}
	p("Machine: `%s` · CPU %s · %d logical CPUs, shared with other jobs while this ran, so absolute", m.goVersion, m.cpu, numCPU())
	p("times are noisy: read the medians and the ratios measured in the same run. Every figure is a median over")
	p("%d runs of `go test -bench -count 1`, the implementations taking turns, unless the table says otherwise", o.count)
	p("(raw output: `results/bench.txt`; compare runs")
	p("with `benchstat -col /impl results/bench.txt`). Peers: github.com/aws/aws-secretsmanager-caching-go/v2 **v2.2.0**")
	p("(its client is the same real aws-sdk-go-v2 Secrets Manager client, against the same in-process `smtest` server),")
	p("pgx v5 `stdlib`, a loopback HTTP sidecar, `sync.Map`.")
	p("")

	// 1. Hit latency.
	p("## 1. Hit latency")
	p("")
	p("Reading a secret that is in the cache: rotasafe `cache.Get`, caching-go `GetSecretString`, a loopback")
	p("HTTP GET of the cached GetSecretValue JSON from a sidecar on 127.0.0.1 (what the Secrets Manager Agent")
	p("costs at the least: keep-alive connection, token header, JSON decode) and a bare `sync.Map` load of the")
	p("value (the floor). Serial uses `b.Loop`, parallel `b.RunParallel` on every P. Goal: 0 allocs/op and")
	p("within 2× of the floor.")
	p("")
	p("Ratios are the median of the per-round ratios (each round runs every implementation once).")
	p("")
	p("| mode | impl | time/op | allocs/op | B/op | × floor (syncmap) | × rotasafe |")
	p("|---|---|---:|---:|---:|---:|---:|")
	for _, mode := range []string{"serial", "parallel"} {
		name := func(impl string) string { return "BenchmarkHit/mode=" + mode + "/impl=" + impl }
		for _, impl := range []string{"rotasafe", "cachinggo", "sidecar", "syncmap"} {
			n := name(impl)
			vsOurs := times(r.paired(n, name("rotasafe"), "ns/op"))
			if impl == "rotasafe" {
				vsOurs = ""
			}
			p("| %s | %s | %s | %s | %s | %s | %s |", mode, impl, dur(r.get(n, "ns/op")), num(r.get(n, "allocs/op")), num(r.get(n, "B/op")),
				times(r.paired(n, name("syncmap"), "ns/op")), vsOurs)
		}
	}
	p("")

	// 2. Herd.
	p("## 2. Herd: K connects with credentials a rotation just made stale")
	p("")
	p("K goroutines connect at once with the old password cached; the database (a stand-in that accepts one")
	p("password) takes only the new AWSCURRENT. Counted by smtest: GetSecretValue + DescribeSecret requests per")
	p("herd. `rotasafe` logs in through the credential walk that sqlconn, redisconn and pgxpoolconn share;")
	p("`perfailure` refetches AWSCURRENT with one GetSecretValue per failed login and retries (the AWS JDBC")
	p("wrapper, the AWS Advanced Go Wrapper); `cachinggo` calls `RefreshNow` per failed login. Each herd starts")
	p("from a fresh cache. Goal: 1 call whatever K. rotasafe and perfailure: median of %d×5 herds; cachinggo: one", max(1, o.count/2))
	p("herd per K (RefreshNow sleeps 2.5–5 s).")
	p("")
	p("| K | rotasafe calls | perfailure calls | cachinggo calls | rotasafe time/herd | perfailure time/herd | cachinggo time/herd | failed connects (r/p/c) |")
	p("|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, k := range []int{10, 100, 1000} {
		n := func(impl string) string { return fmt.Sprintf("BenchmarkHerd/k=%d/impl=%s", k, impl) }
		p("| %d | %s | %s | %s | %s | %s | %s | %s/%s/%s |", k,
			num(r.get(n("rotasafe"), "calls/herd")), num(r.get(n("perfailure"), "calls/herd")), num(r.get(n("cachinggo"), "calls/herd")),
			dur(r.get(n("rotasafe"), "ns/op")), dur(r.get(n("perfailure"), "ns/op")), dur(r.get(n("cachinggo"), "ns/op")),
			num(r.get(n("rotasafe"), "failed/herd")), num(r.get(n("perfailure"), "failed/herd")), num(r.get(n("cachinggo"), "failed/herd")))
	}
	p("")

	// 3. Time to recover.
	p("## 3. Time to recover (real PostgreSQL)")
	p("")
	p("One single-user rotation per iteration (`rotate.Rotate` with `rotate.PostgresSingleUser` against a")
	p("throw-away PostgreSQL 15 cluster, scram-sha-256). Measured from the moment setSecret has changed the")
	p("password to the first successful `SELECT 1` of a client that then opens a new connection with the")
	p("credentials it cached before the rotation (`database/sql`, no idle connections kept); the rotation's")
	p("testSecret and finishSecret run meanwhile. `rotasafe` is `sqlconn.NewPostgres` over `cache.New`;")
	p("`cachinggo` is a connector built the way aws-secretsmanager-jdbc is, on caching-go v2.2.0: on 28P01/28000")
	p("call `RefreshNow` and retry, 6 attempts. Goal for rotasafe: p99 within one connect plus one Secrets Manager")
	p("round trip.")
	p("")
	rt := r.get("BenchmarkRoundTrip/impl=sdk", "ns/op")
	conn := r.get("BenchmarkConnect/impl=pgx", "ns/op")
	p("| impl | rotations | p50 | p99 | max |")
	p("|---|---:|---:|---:|---:|")
	for _, impl := range []string{"rotasafe", "cachinggo"} {
		n := "BenchmarkRecover/scenario=single/impl=" + impl
		p("| %s | %d | %s | %s | %s |", impl, len(rec[impl]), dur(r.get(n, "p50-ms")*1e6), dur(r.get(n, "p99-ms")*1e6), dur(r.get(n, "max-ms")*1e6))
	}
	p("")
	p("Reference, same run: one pgx connect %s, one GetSecretValue round trip through the SDK to smtest %s; the", dur(conn), dur(rt))
	p("goal's bound is their sum, %s. p50 ratio cachinggo / rotasafe: %s.", dur(conn+rt),
		ratio(r.get("BenchmarkRecover/scenario=single/impl=cachinggo", "p50-ms"), r.get("BenchmarkRecover/scenario=single/impl=rotasafe", "p50-ms")))
	if rs := rec["rotasafe"]; len(rs) > 0 {
		bound := time.Duration(conn + rt)
		slow := 0
		for _, d := range rs {
			if d > 10*bound {
				slow++
			}
		}
		p("Rotations of rotasafe above ten times that bound: %d of %d.", slow, len(rs))
	}
	p("The alternating-users scenario is not in this table: its rotation changes the password of the user that")
	p("is *not* AWSCURRENT, so a waiting client's cached credentials keep working and there is nothing to recover")
	p("from (its rotation time is in section 6).")
	if c := charts["recover"]; c != "" {
		p("")
		p("![time to recover](%s)", c)
	}
	p("")

	// 4. Connector overhead.
	p("## 4. Connector overhead (real PostgreSQL)")
	p("")
	p("Open and close one connection: `sqlconn.NewPostgres` (credentials from a warm cache) vs pgx `stdlib`'s")
	p("connector with the same credentials, 50 connects per run. Goal: median ratio ≤ 1.05.")
	p("")
	p("| impl | time/connect | allocs/op | B/op |")
	p("|---|---:|---:|---:|")
	for _, impl := range []string{"rotasafe", "pgx"} {
		n := "BenchmarkConnect/impl=" + impl
		p("| %s | %s | %s | %s |", impl, dur(r.get(n, "ns/op")), num(r.get(n, "allocs/op")), num(r.get(n, "B/op")))
	}
	p("")
	p("Ratio rotasafe / pgx, median of the per-round ratios: **%s** (ratio of the medians: %s).",
		times(r.paired("BenchmarkConnect/impl=rotasafe", "BenchmarkConnect/impl=pgx", "ns/op")),
		ratio(r.get("BenchmarkConnect/impl=rotasafe", "ns/op"), conn))
	p("")
	p("A new connection of a pgx pool, closed again: `pgxpoolconn.Configure` (the login handed over to the")
	p("pool's connect) vs a plain `pgxpool` with the same credentials in its configuration, 50 per run.")
	p("")
	p("| impl | time/connection | allocs/op | B/op |")
	p("|---|---:|---:|---:|")
	for _, impl := range []string{"rotasafe", "pgxpool"} {
		n := "BenchmarkPoolConnect/impl=" + impl
		p("| %s | %s | %s | %s |", impl, dur(r.get(n, "ns/op")), num(r.get(n, "allocs/op")), num(r.get(n, "B/op")))
	}
	p("")
	p("Ratio rotasafe / pgxpool, median of the per-round ratios: **%s** (ratio of the medians: %s).",
		times(r.paired("BenchmarkPoolConnect/impl=rotasafe", "BenchmarkPoolConnect/impl=pgxpool", "ns/op")),
		ratio(r.get("BenchmarkPoolConnect/impl=rotasafe", "ns/op"), r.get("BenchmarkPoolConnect/impl=pgxpool", "ns/op")))
	p("")

	// 5. Fleet.
	writeFleet(p, o, fleets, fleetErrs, charts)

	// 6. Rotation.
	p("## 6. Rotation duration (real PostgreSQL)")
	p("")
	p("One full four-step rotation (`rotate.Rotate`: createSecret, setSecret, testSecret, finishSecret, each")
	p("through the real SDK client to smtest and real logins to the cluster), 50 rotations per run.")
	p("")
	p("| scenario | time/rotation | in pgx connects | allocs/op |")
	p("|---|---:|---:|---:|")
	for _, sc := range []string{"single", "alternating"} {
		n := "BenchmarkRotate/scenario=" + sc + "/impl=rotasafe"
		p("| %s | %s | %s | %s |", sc, dur(r.get(n, "ns/op")), ratio(r.get(n, "ns/op"), conn), num(r.get(n, "allocs/op")))
	}
	p("")
	if len(r) == 0 {
		p("No benchmark results were parsed.")
	}
}

func writeFleet(p func(string, ...any), o options, fleets []*fleet.Result, errs []string, charts map[string]string) {
	p("## 5. Fleet simulation")
	p("")
	for _, e := range errs {
		p("**Run failed:** %s  ", e)
	}
	if len(errs) > 0 {
		p("")
	}
	if len(fleets) == 0 {
		p("Not run.")
		p("")
		return
	}
	p("N application instances read one database secret from one smtest through the real SDK client (one client")
	p("per instance, so each has its own SDK retry quota; they share one HTTP transport of at most 512")
	p("connections). Each opens new database connections at random (Poisson arrivals); the database is a")
	p("stand-in that accepts the passwords it is told to. GetSecretValue is rate-limited with a token bucket of")
	p("%.4g calls per second per instance and a burst of one second's worth (AWS allows 10,000/s per Region, so", o.quota)
	p("the default models a 10,000-instance fleet at its share); every request adds 20 ms of latency. A connect")
	p("fails where the application sees it when the connector returns an error. Requests are counted when sent,")
	p("SDK retries and throttled ones included; CURRENT / PENDING / PREVIOUS splits them by the staging label they")
	p("name (rotasafe names AWSCURRENT explicitly; the baseline's requests name none).")
	p("")
	p("- **rotasafe**: per instance a `cache.Cache` (TTL jittered ±10 %%, refresh-ahead, one shared fetch, a")
	p("  refresh floor, stale on throttling) and the real `sqlconn.Connector` over a `sqlconn.Driver` for the")
	p("  stand-in database.")
	p("- **baseline**: a fixed-TTL value without coalescing or stale serving, as the Secrets Manager Agent's cache")
	p("  behaves (no single-flight; throttling reaches the client); every rejected login refetches AWSCURRENT once")
	p("  and retries (the AWS JDBC wrapper's default, the AWS Advanced Go Wrapper). caching-go is not this")
	p("  baseline: it serves stale values without limit and holds a per-secret mutex across its API call.")
	p("")
	p("Time: to fit two cores the simulation runs d times slower than modeled time (d in the tables): the caches")
	p("read a virtual clock running at 1/d; connect arrivals, latency, the connector's and the SDK's retry")
	p("backoffs and timeouts are stretched by d and the rate limit divided by it. Figures are in modeled")
	p("seconds; real time is shown per run. When the machine saturates, fewer connects are attempted (see")
	p("the connects column): the baseline's storms are then understated, not overstated.")
	p("")
	for _, sc := range []fleet.Scenario{fleet.Rotation, fleet.Expiry} {
		var runs []*fleet.Result
		for _, f := range fleets {
			if f.Config.Scenario == sc {
				runs = append(runs, f)
			}
		}
		if len(runs) == 0 {
			continue
		}
		c := runs[0].Config
		if sc == fleet.Rotation {
			p("### 5a. Single-user rotation: instances find out by failed logins")
			p("")
			p("%.0f connects per second per instance; TTL %v (nothing expires in the run). At t = %v the password", c.ConnectRate, c.TTL, c.RotateAt)
			p("changes and AWSPENDING holds it (setSecret); %v later AWSCURRENT moves to it (finishSecret).", c.Window)
		} else {
			p("### 5b. Lockstep expiry: the fleet started together one TTL ago")
			p("")
			p("%.0f connects per second per instance; every instance fetched the secret at the fleet's start, TTL %v.", c.ConnectRate, c.TTL)
			p("The run covers modeled time TTL−6 s to TTL+4 s (the axis starts at 0). At t = %v an", c.RotateAt)
			p("alternating-users rotation moves AWSCURRENT to new credentials; the old ones keep working, so")
			p("instances pick the new version up when their value expires. rotasafe's TTL is jittered per entry")
			p("and refreshed ahead in the background; the baseline's expires at once everywhere.")
		}
		p("")
		p("| instances | strategy | requests | per instance | CURRENT / PENDING / PREVIOUS | peak req/s (1 s window) | limit/s | peak ÷ limit | throttled | connects | failed connects | d | real time |")
		p("|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, f := range runs {
			var st [3]int
			for k := range st {
				for _, v := range f.ByStage[k] {
					st[k] += v
				}
			}
			p("| %d | %s | %d | %.2f | %d / %d / %d | %d | %.0f | %s | %d | %d | %d | %.1f | %v |", f.Config.Instances, f.Config.Strategy, f.TotalCalls,
				float64(f.TotalCalls)/float64(f.Config.Instances), st[0], st[1], st[2],
				f.PeakPerSecond, f.Limit, ratio(float64(f.PeakPerSecond), f.Limit), f.TotalThrottled, f.Connects, f.Failures,
				f.Config.Dilation, f.Elapsed.Round(time.Second/10))
		}
		p("")
		by := map[fleet.Strategy][]string{}
		for _, f := range runs {
			by[f.Config.Strategy] = append(by[f.Config.Strategy], fmt.Sprintf("%d→%d", f.Config.Instances, f.PeakPerSecond))
		}
		for _, s := range []fleet.Strategy{fleet.Rotasafe, fleet.Baseline} {
			p("Peak growth, %s (instances→peak req/s): %s.  ", s, strings.Join(by[s], ", "))
		}
		var ratios []string
		for _, f := range runs {
			if f.Config.Strategy != fleet.Rotasafe {
				continue
			}
			i := slices.IndexFunc(runs, func(g *fleet.Result) bool {
				return g.Config.Strategy == fleet.Baseline && g.Config.Instances == f.Config.Instances
			})
			if i >= 0 {
				ratios = append(ratios, fmt.Sprintf("%d: %s", f.Config.Instances, ratio(float64(runs[i].TotalCalls), float64(f.TotalCalls))))
			}
		}
		p("Requests, baseline ÷ rotasafe: %s.", strings.Join(ratios, ", "))
		if ch := charts["fleet-"+string(sc)]; ch != "" {
			p("")
			p("![fleet requests per second, %s](%s)", sc, ch)
			if sc == fleet.Rotation {
				p("")
				p("Grey vertical lines: the password change (setSecret) and AWSCURRENT's move (finishSecret).")
			} else {
				p("")
				p("Grey vertical lines: the rotation, and the moment the baseline's values expire.")
			}
		}
		p("")
	}
	if ch := charts["peak"]; ch != "" {
		p("![peak vs fleet size](%s)", ch)
		p("")
	}
}
