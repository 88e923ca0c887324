// Command report runs the benchmarks of this module side by side with their peers and
// writes BENCHMARKS.md and its charts. Run it from the benchmarks directory:
//
//	go run ./cmd/report
//
// It runs `go test -bench` several times (medians over -count runs, as benchstat reports
// them), the fleet simulation in process, and writes BENCHMARKS.md, results/bench.txt (the
// raw benchmark output, for benchstat) and results/*.png. -quick makes every run smaller,
// to try the command out. -hot runs only the hot paths against their floors (connects
// against each raw driver, cache hits against a sync.Map), in a few minutes, and rewrites
// the hot-path section of BENCHMARKS.md alone:
//
//	go run ./cmd/report -hot -runs 3 -rounds 3
//
// A full run keeps the sections of the old BENCHMARKS.md that are not its own, each between
// its markers (the hot paths, the OpenTelemetry section written by hand): see keptSection.
//
// The benchmarks that need PostgreSQL start a throw-away cluster
// and are left out of the report, with a note, when the server binaries are missing.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rotasafe/rotasafe/benchmarks/fleet"
)

var nan = math.NaN()

// noticeLead is the rotator's lead in the notice runs (5d): twice the fleet's size divided by
// its quota at the default quota, so the fleet's reads take about half of it.
const noticeLead = 2 * time.Second

// noticeLosses are the shares of notices lost in the notice runs (5d).
var noticeLosses = []float64{0, 0.1, 0.5, 1}

// attempts is the attempt number of each fleet run the report keeps.
var attempts = map[*fleet.Result]int{}

type options struct {
	count      int     // runs of each benchmark whose medians are reported
	recoverN   int     // rotations measured for rotasafe
	recoverP   int     // rotations measured for the caching-go peer (each takes 2.5-5 s)
	rapidN     int     // runs of the rapid-rotation load (10 s each)
	fleetTries int     // attempts of a fleet run whose lag exceeds the modeled latency
	fleetNs    []int   // fleet sizes
	quota      float64 // fleet.Config.QuotaPerInstance
	quick      bool
	out        string
	skipFleet  bool
	hot        bool // only the hot paths, into BENCHMARKS.md's hot-path section
	hotRuns    int  // runs of the hot paths, each reported in its own column
	hotRounds  int  // rounds per run: each figure is the median of their ratios
}

func main() {
	var o options
	var fleetList string
	flag.IntVar(&o.count, "count", 6, "runs of each benchmark; the report shows medians")
	flag.IntVar(&o.recoverN, "recover", 100, "rotations measured for rotasafe's time to recover")
	flag.IntVar(&o.recoverP, "recover-peer", 5, "rotations measured for the caching-go RefreshNow connector (2.5-5 s each)")
	flag.IntVar(&o.fleetTries, "fleet-tries", 2, "attempts of a fleet run whose lag p99 exceeds the modeled latency; the least lagged is reported")
	flag.IntVar(&o.rapidN, "rapid", 2, "runs of the rapid-rotation load (5 s without rotations, then 5 s with)")
	flag.StringVar(&fleetList, "fleet", "1000,3000,10000", "fleet sizes to simulate, comma-separated")
	flag.Float64Var(&o.quota, "quota", 1, "GetSecretValue calls per second per instance the fleet shares (1 = AWS's 10,000/s for 10,000 instances)")
	flag.BoolVar(&o.quick, "quick", false, "small runs, to try the command out (numbers are not worth reporting)")
	flag.BoolVar(&o.skipFleet, "skip-fleet", false, "leave the fleet simulation out")
	flag.StringVar(&o.out, "out", ".", "directory for BENCHMARKS.md and results/")
	flag.BoolVar(&o.hot, "hot", false, "run only the hot paths against their floors and rewrite that section of BENCHMARKS.md")
	flag.IntVar(&o.hotRuns, "runs", 3, "with -hot: runs, each reported in its own column")
	flag.IntVar(&o.hotRounds, "rounds", 3, "with -hot: rounds per run, each running rotasafe and its peer once")
	flag.Parse()
	for _, s := range strings.Split(fleetList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			log.Fatalf("report: -fleet: %q is not a positive instance count", s)
		}
		o.fleetNs = append(o.fleetNs, n)
	}
	if o.quick {
		o.count, o.recoverN, o.recoverP, o.rapidN = 2, 20, 1, 1
		o.fleetNs = []int{200, 600}
	}
	if o.hot && (o.hotRuns < 1 || o.hotRounds < 1) {
		log.Fatal("report: -runs and -rounds must be at least 1")
	}
	var err error
	if o.hot {
		err = runHot(o)
	} else {
		err = run(o)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func run(o options) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return fmt.Errorf("report: run me from the benchmarks directory (go run ./cmd/report): %w", err)
	}
	resDir := filepath.Join(o.out, "results")
	if err := os.MkdirAll(resDir, 0o755); err != nil {
		return err
	}
	samples, err := os.MkdirTemp("", "rotasafe-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(samples)

	started := time.Now()
	r := results{}
	var raw bytes.Buffer
	// Benchmarks compared with each other run in rounds of -count 1, so that the load of a
	// shared machine drifts over every implementation alike instead of over one at a time.
	type step struct {
		what   string
		rounds int
		args   []string
	}
	steps := []step{
		{"hit latency", o.count, []string{"-bench", "^(BenchmarkHit|BenchmarkRoundTrip)$", "-benchtime", "300ms"}},
		{"herd", max(1, o.count/2), []string{"-bench", "^BenchmarkHerd$/k=/impl=(rotasafe|perfailure)$", "-benchtime", "5x"}},
		{"herd, caching-go", 1, []string{"-bench", "^BenchmarkHerd$/k=/impl=cachinggo$", "-benchtime", "1x"}},
		{"connect overhead and rotation", o.count, []string{"-bench", "^(BenchmarkConnect|BenchmarkPoolConnect|BenchmarkRotate)$", "-benchtime", "50x"}},
		// A MySQL connect takes about 0.3 ms: 300 of them, as in -hot, not 50 (15 ms a figure).
		{"MySQL connect overhead", o.count, []string{"-bench", "^BenchmarkMySQLConnect$", "-benchtime", "300x"}},
		{"time to recover", 1, []string{"-bench", "^BenchmarkRecover$/scenario=single/impl=rotasafe$", "-benchtime", strconv.Itoa(o.recoverN) + "x"}},
		{"time to recover, caching-go", 1, []string{"-bench", "^BenchmarkRecover$/scenario=single/impl=cachinggo$", "-benchtime", strconv.Itoa(o.recoverP) + "x"}},
		{"rapid rotations", 1, []string{"-bench", "^BenchmarkRapidRotations$", "-benchtime", strconv.Itoa(o.rapidN) + "x"}},
	}
	for _, s := range steps {
		for i := range s.rounds {
			args := append(slices.Clone(s.args), "-count", "1")
			log.Printf("report: %s, round %d of %d: go test %s", s.what, i+1, s.rounds, strings.Join(args, " "))
			out, err := goTest(samples, args, i)
			raw.Write(out)
			if err != nil {
				return fmt.Errorf("report: %s: %w", s.what, err)
			}
			if err := parseBench(bytes.NewReader(out), r); err != nil {
				return err
			}
		}
	}
	if err := os.WriteFile(filepath.Join(resDir, "bench.txt"), raw.Bytes(), 0o644); err != nil {
		return err
	}

	var fleets []*fleet.Result
	var fleetErrs []string
	if !o.skipFleet {
		type variant struct {
			s             fleet.Strategy
			removePending bool
			loss          float64 // RotationNotices: the share of notices lost
		}
		for _, sc := range []fleet.Scenario{fleet.Rotation, fleet.Expiry, fleet.RotationNotices} {
			variants := []variant{{s: fleet.Rotasafe}, {s: fleet.Baseline}}
			if sc == fleet.RotationNotices {
				// The baseline does not listen. Announced ahead, with 0 %, 10 %, 50 % and all
				// notices lost.
				variants = nil
				for _, loss := range noticeLosses {
					variants = append(variants, variant{s: fleet.Rotasafe, loss: loss})
				}
			}
			if sc == fleet.Rotation {
				// The rotation as rotate.Handler runs it: AWSPENDING removed at finishSecret.
				variants = append(variants, variant{s: fleet.Rotasafe, removePending: true})
			}
			for _, n := range o.fleetNs {
				for _, v := range variants {
					what := fmt.Sprintf("%s, %d instances, %s", sc, n, v.s)
					if v.removePending {
						what += ", AWSPENDING removed at finishSecret"
					}
					var lead time.Duration
					if sc == fleet.RotationNotices {
						lead = noticeLead
						what += fmt.Sprintf(", lead %v, %.0f %% of notices lost", lead, 100*v.loss)
					}
					// A run on a machine that fell behind the modeled clock is run again, and
					// the attempt with the least lag is reported, with the number of attempts.
					var best *fleet.Result
					for try := 1; try <= o.fleetTries; try++ {
						log.Printf("report: fleet simulation: %s (attempt %d)", what, try)
						res, err := fleet.Run(context.Background(), fleet.Config{Instances: n, Strategy: v.s, Scenario: sc,
							QuotaPerInstance: o.quota, RemovePending: v.removePending, NoticeLead: lead, NoticeLoss: v.loss})
						if err != nil {
							log.Printf("report: fleet %s: %v", what, err)
							fleetErrs = append(fleetErrs, fmt.Sprintf("%s: %v", what, err))
							break
						}
						attempts[res] = try
						if best == nil || res.Lag < best.Lag {
							best = res
						}
						if res.Lag <= res.Config.Latency {
							break
						}
						log.Printf("report: fleet %s lagged %v (modeled) at p99", what, res.Lag)
					}
					if best != nil {
						fleets = append(fleets, best)
					}
				}
			}
		}
	}

	rec := map[string][]time.Duration{}
	for key, file := range map[string]string{"rotasafe": "recover_rotasafe", "cachinggo": "recover_cachinggo",
		"floor": "floor_rotasafe", "idlefloor": "idlefloor_rotasafe"} {
		d, err := readDurations(filepath.Join(samples, file+".json"))
		if err == nil {
			rec[key] = d
		}
	}
	charts, err := drawCharts(resDir, fleets, rec)
	if err != nil {
		return err
	}
	m := machine()
	var md bytes.Buffer
	writeReport(&md, o, m, r, fleets, fleetErrs, rec, charts, time.Since(started))
	path := filepath.Join(o.out, "BENCHMARKS.md")
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.WriteFile(path, keep(md.Bytes(), old), 0o644); err != nil {
		return err
	}
	log.Printf("report: wrote %s in %v", path, time.Since(started).Round(time.Second))
	return nil
}

// goTest runs go test -run '^$' with args in the module as round (counted from 0) of a step, and
// returns its output. Its stderr goes to ours, so that skips and failures show.
func goTest(samples string, args []string, round int) ([]byte, error) {
	cmd := exec.Command("go", append([]string{"test", "-run", "^$", "-v"}, append(args, ".")...)...)
	cmd.Env = append(os.Environ(), "ROTASAFE_BENCH_OUT="+samples)
	// Every other round runs the paired benchmarks' peer first, so that whatever the first of
	// a pair leaves behind (a server still ending the last connections) falls on each side in
	// turn.
	if round%2 == 1 {
		cmd.Env = append(cmd.Env, peerFirstEnv+"=1")
	}
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, prefixWriter{os.Stderr})
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	return out.Bytes(), err
}

// prefixWriter shows benchmark lines as they come.
type prefixWriter struct{ w io.Writer }

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if strings.HasPrefix(line, "Benchmark") || strings.Contains(line, "SKIP") || strings.Contains(line, "FAIL") {
			io.WriteString(p.w, "  "+line)
		}
	}
	return len(b), nil
}

type machineInfo struct{ goVersion, cpu, os string }

func machine() machineInfo {
	m := machineInfo{goVersion: runtime.Version(), cpu: "unknown", os: runtime.GOOS + "/" + runtime.GOARCH}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.goVersion = strings.TrimSpace(strings.TrimPrefix(string(out), "go version "))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func numCPU() int { return runtime.NumCPU() }
