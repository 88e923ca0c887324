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
	p("value (the floor). Serial uses `b.Loop`, parallel one goroutine per P counting in a local variable")
	p("(not `b.RunParallel`, whose per-iteration counter can share a cache line with the benchmark's closure).")
	p("Goal: 0 allocs/op and within 2× of the floor.")
	p("")
	p("Ratios are the median of the per-round ratios (each round runs every implementation once; paired")
	p("benchmarks run the peer first in every other round).")
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
	p("from a fresh cache. Goal: a number of calls that does not grow with K. The herd's rotation is a")
	p("PutSecretValue straight to AWSCURRENT, which leaves no AWSPENDING: rotasafe's walk reads AWSPENDING first")
	p("(in a rotation that is where the new password is), finds none and reads AWSCURRENT: 2 calls, where the")
	p("old connector's AWSCURRENT refresh made 1 (a rotation in AWS's order costs 1: sections 5a and 7).")
	p("rotasafe and perfailure: median of %d×5 herds; cachinggo: one herd per K (RefreshNow sleeps 2.5–5 s).", max(1, o.count/2))
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
	p("call `RefreshNow` and retry, 6 attempts.")
	p("")
	p("**The floor** is what any client that finds out by failing must do: one rejected login, one GetSecretValue,")
	p("one login and its `SELECT 1` (`tests/floor`, logging in as sqlconn does, with no cache, pool or retry")
	p("logic). It is timed in the same run against the same cluster and smtest, with each measured rotation,")
	p("twice: during a rotation of its own, by a client that holds the credentials cached before it, starts when")
	p("setSecret has changed the password and reads the new version by its ID while testSecret and finishSecret")
	p("run, timed from the password change as the clients are (the floor under the same load; it runs before the")
	p("measured client's rotation every other time); and with no rotation going on (`floor.Postgres`, what")
	p("`examples/demo` prints). Goal for rotasafe: p99 ≤ 1.5× the floor.")
	p("")
	fl := func(unit string) float64 { return r.get("BenchmarkRecover/scenario=single/impl=rotasafe", unit) }
	p("| impl | rotations | p50 | p90 | p99 | max | p50 ÷ floor p50 | p90 ÷ floor p90 | p99 ÷ floor p99 |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, impl := range []string{"rotasafe", "cachinggo"} {
		n := "BenchmarkRecover/scenario=single/impl=" + impl
		p("| %s | %d | %s | %s | %s | %s | %s | %s | %s |", impl, len(rec[impl]), dur(r.get(n, "p50-ms")*1e6), dur(r.get(n, "p90-ms")*1e6),
			dur(r.get(n, "p99-ms")*1e6), dur(r.get(n, "max-ms")*1e6), times(r.get(n, "p50-floors")), times(r.get(n, "p90-floors")),
			times(r.get(n, "p99-floors")))
	}
	p("")
	p("| floor (rotasafe's run) | p50 | p90 | p99 | max |")
	p("|---|---:|---:|---:|---:|")
	p("| during a rotation | %s | %s | %s | %s |", dur(fl("floor-p50-ms")*1e6), dur(fl("floor-p90-ms")*1e6), dur(fl("floor-p99-ms")*1e6),
		dur(fl("floor-max-ms")*1e6))
	p("| no rotation going on | %s | — | %s | — |", dur(fl("idlefloor-p50-ms")*1e6), dur(fl("idlefloor-p99-ms")*1e6))
	p("")
	if q := fl("p99-floors"); !math.IsNaN(q) {
		verdict := "met"
		if q > 1.5 {
			verdict = "**missed**"
		}
		p("Goal p99 ≤ 1.5× the floor: %s (%s). Against the floor with no rotation going on, rotasafe's p50 is %s",
			verdict, times(q), ratio(fl("p50-ms"), fl("idlefloor-p50-ms")))
		p("and its p99 %s of that floor's p50: the rotation's own logins and calls share the two cores.", ratio(fl("p99-ms"), fl("idlefloor-p50-ms")))
		p("Quantiles are compared with the same quantile of the floor, since on a shared machine the floor's own")
		p("p99 is several times its p50. The p99 of %d rotations rests on its %d slowest, which on this machine are", len(rec["rotasafe"]), max(1, len(rec["rotasafe"])/100))
		p("slow logins and slow answers under the load of other jobs, for the floor client as for rotasafe: rotasafe")
		p("runs the floor's steps (one rejected login, one AWSPENDING read, one login) plus a cache lookup, so the p50")
		p("and p90 ratios say more about its overhead than the p99 ratio does.")
	}
	p("p50 ratio cachinggo / rotasafe: %s.",
		ratio(r.get("BenchmarkRecover/scenario=single/impl=cachinggo", "p50-ms"), r.get("BenchmarkRecover/scenario=single/impl=rotasafe", "p50-ms")))
	p("The alternating-users scenario is not in this table: its rotation changes the password of the user that")
	p("is *not* AWSCURRENT, so a waiting client's cached credentials keep working and there is nothing to recover")
	p("from (its rotation time is in section 6).")
	if c := charts["recover"]; c != "" {
		p("")
		p("![time to recover](%s)", c)
	}
	p("")

	// 4. Connector overhead.
	conn := r.get("BenchmarkConnect/impl=pgx", "ns/op")
	p("## 4. Connector overhead (real PostgreSQL and MariaDB)")
	p("")
	p("Open and close one connection: `sqlconn.NewPostgres` (credentials from a warm cache) vs pgx `stdlib`'s")
	p("connector with the same credentials, 50 connects per run. Goal: median ratio ≤ 1.05.")
	p("")
	implVersus(p, r, "connect", "BenchmarkConnect", "pgx")
	p("")
	p("A new connection of a pgx pool, closed again: `pgxpoolconn.Configure` (the login handed over to the")
	p("pool's connect) vs a plain `pgxpool` with the same credentials in its configuration, 50 per run.")
	p("")
	implVersus(p, r, "connection", "BenchmarkPoolConnect", "pgxpool")
	p("")
	p("MySQL (a throw-away MariaDB, `internal/testserver/mysqltest`, with its default")
	p("disconnect_on_expired_password=OFF): `sqlconn.NewMySQL` with its expired-password guard on (the first login")
	p("reads the setting; later ones hand out a connection whose first statement in sandbox mode fails with the")
	p("reason) vs go-sql-driver/mysql's connector with the same credentials, 300 connects per run.")
	p("")
	implTable(p, r, "connect", "BenchmarkMySQLConnect", "rotasafe", "gosqldriver")
	p("")
	if r.n("BenchmarkMySQLConnect/impl=rotasafe", "ns/op") == 0 {
		p("Not measured: the MariaDB server binaries were not found (see `internal/testserver/mysqltest`).")
	} else {
		p("Ratio rotasafe / go-sql-driver, median of the per-round ratios: **%s**.",
			times(r.paired("BenchmarkMySQLConnect/impl=rotasafe", "BenchmarkMySQLConnect/impl=gosqldriver", "ns/op")))
	}
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

	// 7. Rapid rotations.
	p("## 7. Rapid rotations (real PostgreSQL)")
	p("")
	p("%d goroutines run `SELECT 1` through `sqlconn.NewPostgres` with `SetMaxIdleConns(0)`, so every query logs in;", rapidWorkers)
	p("first for 5 s with no rotation, then for 5 s with a single-user rotation beginning every 250 ms in AWS's")
	p("order: the new version stored under AWSPENDING, the password changed (ALTER ROLE), 100 ms later AWSCURRENT")
	p("moved to it (AWSPENDING stays on it, as AWS's templates leave it). GetSecretValue calls are the client's")
	p("cache's, by label. Goals: 0 errors; the longest query under 3× the p99 of the same load without rotations,")
	p("plus 100 ms; at most 3 GetSecretValue per rotation. `-rapid %d`: that many runs, pooled.", o.rapidN)
	p("")
	const rp = "BenchmarkRapidRotations"
	base, longest := r.get(rp, "base-p99-ms"), r.get(rp, "max-ms")
	p("| rotations | queries | errors | p99, no rotations | p99, rotations | longest query | longest ÷ p99 without | bound (3× p99 + 100 ms) | GetSecretValue per rotation (CURRENT / PENDING / PREVIOUS) |")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	p("| %s | %s | %s | %s | %s | %s | %s | %s | %s (%s / %s / %s) |", num(r.get(rp, "rotations")*float64(o.rapidN)), num(r.get(rp, "queries")*float64(o.rapidN)),
		num(r.get(rp, "errors")), dur(base*1e6), dur(r.get(rp, "p99-ms")*1e6), dur(longest*1e6), times(r.get(rp, "max-over-base-p99")),
		dur((3*base+100)*1e6), num(r.get(rp, "gsv/rotation")), num(r.get(rp, "current-gsv/rotation")), num(r.get(rp, "pending-gsv/rotation")),
		num(r.get(rp, "previous-gsv/rotation")))
	p("")
	if !math.IsNaN(longest) {
		var missed []string
		if e := r.get(rp, "errors"); e > 0 {
			missed = append(missed, num(e)+" errors")
		}
		if longest >= 3*base+100 {
			missed = append(missed, "the longest query over the bound")
		}
		if g := r.get(rp, "gsv/rotation"); g > 3 {
			missed = append(missed, num(g)+" GetSecretValue per rotation")
		}
		verdict := "met"
		if len(missed) > 0 {
			verdict = "**missed**: " + strings.Join(missed, ", ")
		}
		p("Goals: %s.", verdict)
		p("")
	}
	if len(r) == 0 {
		p("No benchmark results were parsed.")
	}
}

// rapidWorkers is the number of querying goroutines of BenchmarkRapidRotations.
const rapidWorkers = 8

// implTable writes the table of time, allocations and bytes per op of bench's cases, one row
// per impl; op names what one op is ("connect").
func implTable(p func(string, ...any), r results, op, bench string, impls ...string) {
	p("| impl | time/%s | allocs/op | B/op |", op)
	p("|---|---:|---:|---:|")
	for _, impl := range impls {
		n := bench + "/impl=" + impl
		p("| %s | %s | %s | %s |", impl, dur(r.get(n, "ns/op")), num(r.get(n, "allocs/op")), num(r.get(n, "B/op")))
	}
}

// implVersus writes implTable of rotasafe and other in bench, then the ratio of rotasafe's
// time per op to other's.
func implVersus(p func(string, ...any), r results, op, bench, other string) {
	implTable(p, r, op, bench, "rotasafe", other)
	p("")
	a, b := bench+"/impl=rotasafe", bench+"/impl="+other
	p("Ratio rotasafe / %s, median of the per-round ratios: **%s** (ratio of the medians: %s).",
		other, times(r.paired(a, b, "ns/op")), ratio(r.get(a, "ns/op"), r.get(b, "ns/op")))
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
	p("- **rotasafe**: rotasafe's own code. Per instance a `cache.Cache` (TTL jittered ±10 %%, refresh-ahead, one")
	p("  shared fetch per label, one forced read per rejected version and then a floor, stale on throttling) and")
	p("  the credential walk that sqlconn, redisconn and pgxpoolconn share (package `login`, its default")
	p("  retry policy) with a login to the stand-in database as its try: after a rejected login it reads AWSPENDING")
	p("  once, AWSCURRENT only when that answer does not say where AWSCURRENT is, AWSPREVIOUS only when nothing")
	p("  newer logs in.")
	p("- **baseline**: a fixed-TTL value without coalescing or stale serving, as the Secrets Manager Agent's cache")
	p("  behaves (no single-flight; throttling reaches the client); every rejected login refetches AWSCURRENT once")
	p("  and retries (the AWS JDBC wrapper's default, the AWS Advanced Go Wrapper). caching-go is not this")
	p("  baseline: it serves stale values without limit and holds a per-secret mutex across its API call.")
	p("")
	p("Time: to fit two cores the simulation runs d times slower than modeled time (d in the tables): the caches")
	p("read a virtual clock running at 1/d; connect arrivals, latency, the connector's and the SDK's retry")
	p("backoffs and timeouts are stretched by d and the rate limit divided by it. Figures are in modeled")
	p("seconds; real time is shown per run. When the machine saturates, fewer connects are attempted (see")
	p("the connects column): the baseline's storms are then understated, not overstated. Lag is how late a")
	p("10 ms (modeled) sleep woke up during the run, in modeled time: where it nears the 20 ms latency or more,")
	p("the machine fell behind the modeled clock, reads took longer in modeled time than they do, and connects")
	p("that wait on them may time out; such a run measures the machine as much as the strategy. A run whose")
	p("lag p99 exceeded the modeled latency was run again, up to %d attempts in all (`-fleet-tries`); the tables", o.fleetTries)
	p("show the attempt with the least lag, and which attempt it was.")
	p("")
	for _, sc := range []fleet.Scenario{fleet.Rotation, fleet.Expiry} {
		var runs []*fleet.Result
		for _, f := range fleets {
			if f.Config.Scenario == sc && !f.Config.RemovePending {
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
		fleetTable(p, runs)
		if sc == fleet.Rotation {
			fleetGoals(p, runs)
		}
		fleetCounters(p, runs)
		by := map[fleet.Strategy][]string{}
		for _, f := range runs {
			by[f.Config.Strategy] = append(by[f.Config.Strategy], fmt.Sprintf("%d→%d", f.Config.Instances, f.PeakPerSecond))
		}
		for _, s := range []fleet.Strategy{fleet.Rotasafe, fleet.Baseline} {
			p("Peak growth, %s (instances→peak req/s): %s.  ", s, strings.Join(by[s], ", "))
		}
		var ratios []string
		for _, f := range rotasafeRuns(runs) {
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
				p("Grey vertical lines: the password change (setSecret) and AWSCURRENT's move (finishSecret). The curves are")
				p("requests per 100 ms bin, scaled to a second: a bin may rise above the limit's line while no request is")
				p("throttled, since the token bucket's burst is one second's worth; the table's 1 s window is what the")
				p("goal measures.")
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

	var removed []*fleet.Result
	for _, f := range fleets {
		if f.Config.RemovePending {
			removed = append(removed, f)
		}
	}
	if len(removed) > 0 {
		p("### 5c. The same rotation with AWSPENDING removed at finishSecret")
		p("")
		p("As 5a, but finishSecret also takes AWSPENDING off the new AWSCURRENT version right after moving")
		p("AWSCURRENT, as some rotation functions do (`rotate.Handler` did until this measurement; it now leaves")
		p("AWSPENDING in place, as Secrets Manager itself and AWS's rotation function templates do, 5a). An instance")
		p("whose first rejected login comes after finishSecret then finds AWSPENDING gone and reads AWSCURRENT as")
		p("well: two calls instead of one. rotasafe only; the baseline reads AWSCURRENT either way.")
		p("")
		fleetTable(p, removed)
		fleetGoals(p, removed)
		fleetCounters(p, removed)
	}
	writeNotices(p, fleets, charts)
}

// writeNotices writes section 5d: the rotation of 5a with rotation notices, side by side with
// rotasafe's pull-only runs of 5a.
func writeNotices(p func(string, ...any), fleets []*fleet.Result, charts map[string]string) {
	var runs []*fleet.Result
	for _, f := range fleets {
		if f.Config.Scenario == fleet.RotationNotices {
			runs = append(runs, f)
		}
	}
	if len(runs) == 0 {
		return
	}
	pull := func(n int) *fleet.Result {
		for _, f := range fleets {
			if f.Config.Scenario == fleet.Rotation && f.Config.Strategy == fleet.Rotasafe && !f.Config.RemovePending && f.Config.Instances == n {
				return f
			}
		}
		return nil
	}
	c := runs[0].Config
	p("### 5d. The same rotation with rotation notices, announced ahead")
	p("")
	p("5a's rotation, with the rotator announcing it ahead as `rotate.WithNotices` and `rotate.WithNoticeLead(%v)`", c.NoticeLead)
	p("do: `pending-stored` (carrying the lead) once AWSPENDING holds the new value, then the lead; `password-changing`,")
	p("the settle (%v), the password change, `password-changed`; `finished` once AWSCURRENT moved. Every", c.NoticeSettle)
	p("instance's cache listens (`cache.WithNotices`, hold bound %v) through an in-process fan-out transport that", c.NoticeHold)
	p("stands in for Redis or NATS (tested against real servers in their own packages), as the stand-in database")
	p("stands in for PostgreSQL. Each instance reads the new version by ID at a random moment within the lead,")
	p("holds its new logins from `password-changing` to `password-changed` (`Prefer`), and takes the version")
	p("as AWSCURRENT on `finished` without another read. rotasafe only (the baseline does not listen); the")
	p("pull-only figures are 5a's rotasafe runs of this report. Rejected logins are summed over the fleet for the")
	p("run's one rotation; the hold wait is how long the logins that began during the change waited in `Prefer`.")
	p("")
	p("| instances | notices lost | rejected logins | requests | per instance | CURRENT / PENDING / PREVIOUS / by version (cache reads) | peak ÷ limit | throttled | failed connects | holds | hold wait p50 / p99 / max | lag p99 / max |")
	p("|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---|---:|")
	for _, n := range uniqueSizes(runs) {
		rows := []*fleet.Result{pull(n)}
		for _, f := range runs {
			if f.Config.Instances == n {
				rows = append(rows, f)
			}
		}
		for _, g := range rows {
			if g == nil {
				continue
			}
			lost, wait := "no notices (5a)", "—"
			if g.Config.Scenario == fleet.RotationNotices {
				lost = fmt.Sprintf("%.0f %%", 100*g.Config.NoticeLoss)
				wait = fmt.Sprintf("%s / %s / %s", dur(float64(g.HoldWait.P50)), dur(float64(g.HoldWait.P99)), dur(float64(g.HoldWait.Max)))
			}
			p("| %d | %s | %d | %d | %.2f | %d / %d / %d / %d | %s | %d | %d | %d | %s | %s / %s |", g.Config.Instances, lost,
				g.Rejected.Total(), g.TotalCalls, float64(g.TotalCalls)/float64(g.Config.Instances),
				g.Reads.Current, g.Reads.Pending, g.Reads.Previous, g.Reads.Other,
				ratio(float64(g.PeakPerSecond), g.Limit), g.TotalThrottled, g.Failures, g.Holds, wait,
				dur(float64(g.Lag)), dur(float64(g.MaxLag)))
		}
	}
	p("")
	p("The notice runs in full (d, real time and attempt as in 5a):")
	p("")
	fleetTable(p, runs)
	p("What it shows: with every notice delivered, no login is rejected at any size and each instance reads once,")
	p("as pulling does; the reads spread over the lead, so the peak is about N ÷ lead (half the limit at a 2 s")
	p("lead). Logins that begin while the password changes wait about the settle. A lost `pending-stored` moves")
	p("that instance's read to `password-changing`; a lost `password-changing` lets its logins meet the change")
	p("(rejected, then answered from the version it read, no call); a lost `password-changed` holds its logins to")
	p("the bound, then the pull path takes over. With every notice lost the fleet pulls as in 5a. Check the lag")
	p("columns: a run whose lag p99 approaches the modeled %v latency measures the machine as much as the fleet.", c.Latency)
	p("")
	var behind []string
	for _, f := range runs {
		if f.Lag > f.Config.Latency {
			behind = append(behind, fmt.Sprintf("%d instances, %.0f %% lost (lag p99 %s)", f.Config.Instances, 100*f.Config.NoticeLoss, dur(float64(f.Lag))))
		}
	}
	if len(behind) > 0 {
		p("**The machine fell behind** in %s, on every attempt: such a run measures the machine as much as", strings.Join(behind, "; "))
		p("the notices; run it again with a larger slow-down (fleet.Config.Dilation) before taking its figures.")
		p("")
	}
	if ch := charts["fleet-notices"]; ch != "" {
		p("![fleet requests per second, pulling vs notices](%s)", ch)
		p("")
		p("With no notice lost. Grey vertical lines: the password change (setSecret, `password-changed`) and AWSCURRENT's move")
		p("(finishSecret, `finished`).")
		p("")
	}
	if ch := charts["fleet-notices-rejected"]; ch != "" {
		p("![rejected logins per rotation vs fleet size](%s)", ch)
		p("")
	}
}

// uniqueSizes returns the fleet sizes of runs, in their order.
func uniqueSizes(runs []*fleet.Result) []int {
	var ns []int
	for _, f := range runs {
		if !slices.Contains(ns, f.Config.Instances) {
			ns = append(ns, f.Config.Instances)
		}
	}
	return ns
}

// fleetTable writes one row per run.
func fleetTable(p func(string, ...any), runs []*fleet.Result) {
	p("| instances | strategy | requests | per instance | CURRENT / PENDING / PREVIOUS | peak req/s (1 s window) | limit/s | peak ÷ limit | throttled | connects | failed connects | d | real time | lag p99 / max | attempt |")
	p("|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, f := range runs {
		var st [3]int
		for k := range st {
			for _, v := range f.ByStage[k] {
				st[k] += v
			}
		}
		p("| %d | %s | %d | %.2f | %d / %d / %d | %d | %.0f | %s | %d | %d | %d | %.1f | %v | %s / %s | %d |", f.Config.Instances, runLabel(f), f.TotalCalls,
			float64(f.TotalCalls)/float64(f.Config.Instances), st[0], st[1], st[2],
			f.PeakPerSecond, f.Limit, ratio(float64(f.PeakPerSecond), f.Limit), f.TotalThrottled, f.Connects, f.Failures,
			f.Config.Dilation, f.Elapsed.Round(time.Second/10), dur(float64(f.Lag)), dur(float64(f.MaxLag)), attempts[f])
	}
	p("")
}

// rotasafeRuns returns the runs of rotasafe's strategy, in order.
func rotasafeRuns(runs []*fleet.Result) []*fleet.Result {
	var out []*fleet.Result
	for _, f := range runs {
		if f.Config.Strategy == fleet.Rotasafe {
			out = append(out, f)
		}
	}
	return out
}

// fleetGoals checks rotasafe's runs against issue 13's goals for a rotation.
func fleetGoals(p func(string, ...any), runs []*fleet.Result) {
	var lines []string
	for _, f := range rotasafeRuns(runs) {
		per := float64(f.TotalCalls) / float64(f.Config.Instances)
		peak := float64(f.PeakPerSecond) / f.Limit
		var missed []string
		if per > 1.2 {
			missed = append(missed, fmt.Sprintf("%.2f requests per instance", per))
		}
		if peak > 1.0 {
			missed = append(missed, fmt.Sprintf("peak %.2f× the limit", peak))
		}
		if f.TotalThrottled > 0 {
			missed = append(missed, fmt.Sprintf("%d throttled", f.TotalThrottled))
		}
		if f.Failures > 0 {
			missed = append(missed, fmt.Sprintf("%d failed connects", f.Failures))
		}
		verdict := "met"
		if len(missed) > 0 {
			verdict = "**missed**: " + strings.Join(missed, ", ")
			if f.Lag > f.Config.Latency {
				verdict += fmt.Sprintf(" (the machine lagged %s at p99, more than the modeled latency: see below)", dur(float64(f.Lag)))
			}
		}
		lines = append(lines, fmt.Sprintf("%d instances %s", f.Config.Instances, verdict))
	}
	if len(lines) == 0 {
		return
	}
	p("Goal for rotasafe (at most 1.2 requests per instance, peak at most 1.0× the limit, 0 throttled, 0 failed")
	p("connects): %s.", strings.Join(lines, "; "))
	p("")
}

// fleetCounters writes what rotasafe's own counters (cache.Stats, the walk's LoginStats) saw.
func fleetCounters(p func(string, ...any), runs []*fleet.Result) {
	var lines []string
	for _, f := range rotasafeRuns(runs) {
		n := float64(f.Config.Instances)
		more := 0
		for k := 2; k < len(f.CallsPerInstance); k++ {
			more += f.CallsPerInstance[k]
		}
		lines = append(lines, fmt.Sprintf("%d instances: calls by label %d / %d / %d (CURRENT / PENDING / PREVIOUS); %d instances made no call, %d one, %d more; "+
			"rejected logins %.2f per instance; logins rescued by another label %.2f per instance",
			f.Config.Instances, f.Reads.Current, f.Reads.Pending, f.Reads.Previous, f.CallsPerInstance[0], f.CallsPerInstance[1], more,
			float64(f.Rejected.Total())/n, float64(f.Fallbacks.Total())/n))
	}
	if len(lines) == 0 {
		return
	}
	p("rotasafe's own counters (`cache.Stats().Reads`, the walk's `LoginStats`), summed over the instances:")
	p("")
	for _, l := range lines {
		p("- %s.", l)
	}
	p("")
	for _, f := range runs {
		if f.Rejected.Total() > 0 {
			p("A rejected login that waits for its instance's read in flight counts as rejected but makes no call; on a")
			p("loaded machine the read takes longer in modeled time, so more logins are rejected while it runs.")
			p("")
			return
		}
	}
}
