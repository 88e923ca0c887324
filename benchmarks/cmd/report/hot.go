package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The hot-path section of BENCHMARKS.md lies between these markers (hotKept). -hot rewrites
// it alone; a full report carries it over.
const (
	hotBegin = "<!-- hot paths: written by go run ./cmd/report -hot -->"
	hotEnd   = "<!-- end of hot paths -->"
)

// hotSteps are the go test runs of one round of -hot: every hot path next to its peer, in
// the same process.
var hotSteps = [][]string{
	{"-bench", "^BenchmarkHit$/./impl=(rotasafe|syncmap)$", "-benchtime", "300ms"},
	{"-bench", "^BenchmarkMySQLConnect$", "-benchtime", "300x"},
	{"-bench", "^(BenchmarkConnect|BenchmarkPoolConnect)$", "-benchtime", "200x"},
}

// peerFirstEnv, set to 1, makes the paired benchmarks run their peer before rotasafe.
const peerFirstEnv = "ROTASAFE_BENCH_PEER_FIRST"

// hotRow is one row of the hot-path table: the ratio of rotasafe's figure in benchmark
// bench (its case impl=rotasafe) to its peer's (case impl=peer), or rotasafe's figure itself
// when peer is empty.
type hotRow struct {
	path, against string
	bench, peer   string
	unit          string
	goal          float64 // the ratio (or value) the figure must not exceed
}

var hotRows = []hotRow{
	{path: "sqlconn MySQL connect, guard on", against: "go-sql-driver/mysql connector", bench: "BenchmarkMySQLConnect", peer: "gosqldriver", unit: "ns/op", goal: 1.10},
	{path: "sqlconn PostgreSQL connect", against: "pgx stdlib connector", bench: "BenchmarkConnect", peer: "pgx", unit: "ns/op", goal: 1.05},
	{path: "pgxpoolconn new connection", against: "pgxpool", bench: "BenchmarkPoolConnect", peer: "pgxpool", unit: "ns/op", goal: 1.05},
	{path: "pgxpoolconn new connection, allocations", against: "pgxpool", bench: "BenchmarkPoolConnect", peer: "pgxpool", unit: "allocs/op", goal: 1.25},
	{path: "cache.Get hit, serial", against: "sync.Map load", bench: "BenchmarkHit/mode=serial", peer: "syncmap", unit: "ns/op", goal: 2},
	{path: "cache.Get hit, parallel", against: "sync.Map load", bench: "BenchmarkHit/mode=parallel", peer: "syncmap", unit: "ns/op", goal: 2},
	{path: "cache.Get hit, serial, allocations", bench: "BenchmarkHit/mode=serial", unit: "allocs/op", goal: 0},
	{path: "cache.Get hit, parallel, allocations", bench: "BenchmarkHit/mode=parallel", unit: "allocs/op", goal: 0},
}

// hotRun is what one run of -hot measured.
type hotRun struct {
	r    results
	load [2]string // /proc/loadavg at the start and the end
	took time.Duration
}

// runHot runs the hot-path benchmarks o.hotRuns times, each o.hotRounds rounds of every
// benchmark next to its peer, and writes their table into BENCHMARKS.md's hot-path section.
func runHot(o options) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return fmt.Errorf("report: run me from the benchmarks directory (go run ./cmd/report -hot): %w", err)
	}
	started := time.Now()
	var runs []hotRun
	var raw bytes.Buffer
	for i := range o.hotRuns {
		run := hotRun{r: results{}, load: [2]string{loadavg(), ""}}
		t0 := time.Now()
		for j := range o.hotRounds {
			for _, s := range hotSteps {
				args := append(append([]string{}, s...), "-count", "1")
				log.Printf("report: hot paths, run %d of %d, round %d of %d: go test %s", i+1, o.hotRuns, j+1, o.hotRounds, strings.Join(args, " "))
				out, err := goTest(os.TempDir(), args, j)
				raw.Write(out)
				if err != nil {
					return fmt.Errorf("report: hot paths: %w", err)
				}
				if err := parseBench(bytes.NewReader(out), run.r); err != nil {
					return err
				}
			}
		}
		run.took, run.load[1] = time.Since(t0), loadavg()
		runs = append(runs, run)
	}
	if err := os.MkdirAll(filepath.Join(o.out, "results"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "results", "hot.txt"), raw.Bytes(), 0o644); err != nil {
		return err
	}
	var sec bytes.Buffer
	writeHot(&sec, o, machine(), runs, time.Since(started))
	path := filepath.Join(o.out, "BENCHMARKS.md")
	doc, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.WriteFile(path, hotKept.splice(doc, sec.Bytes()), 0o644); err != nil {
		return err
	}
	io.Copy(os.Stdout, &sec)
	log.Printf("report: wrote the hot paths into %s in %v", path, time.Since(started).Round(time.Second))
	return nil
}

// figure is a row's figure in run r: the median of the per-round ratios, or rotasafe's
// median when the row has no peer.
func (h hotRow) figure(r results) float64 {
	ours := h.bench + "/impl=rotasafe"
	if h.peer == "" {
		return r.get(ours, h.unit)
	}
	return r.paired(ours, h.bench+"/impl="+h.peer, h.unit)
}

// writeHot writes the hot-path section, markers included.
func writeHot(w io.Writer, o options, m machineInfo, runs []hotRun, took time.Duration) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("%s", hotBegin)
	p("## Hot paths against their floors")
	p("")
	p("Written by `go run ./cmd/report -hot -runs %d -rounds %d` (%s, %v; `%s`, %s, %d logical CPUs shared",
		o.hotRuns, o.hotRounds, time.Now().UTC().Format("2006-01-02"), took.Round(time.Second), m.goVersion, m.cpu, numCPU())
	p("with other jobs). Each run is %d rounds; a round runs every benchmark once, rotasafe and its peer in the", o.hotRounds)
	p("same `go test` process after one warm-up connect each, the peer first in every other round")
	p("(MySQL 300 connects per benchmark, PostgreSQL 200,")
	p("hits for 300 ms). Each figure is the median of that run's per-round ratios rotasafe / peer; allocation")
	p("rows without a peer are rotasafe's median. Raw output: `results/hot.txt`. ✓ marks a figure within its goal.")
	p("")
	hdr, sep := "| path | against | goal |", "|---|---|---:|"
	for i := range runs {
		hdr += fmt.Sprintf(" run %d |", i+1)
		sep += "---:|"
	}
	p("%s", hdr)
	p("%s", sep)
	for _, h := range hotRows {
		goal := fmt.Sprintf("≤ %.2f×", h.goal)
		against := h.against
		if h.peer == "" {
			goal, against = num(h.goal), "—"
		}
		line := fmt.Sprintf("| %s | %s | %s |", h.path, against, goal)
		for _, run := range runs {
			v := h.figure(run.r)
			cell := times(v)
			if h.peer == "" {
				cell = num(v)
			}
			if !math.IsNaN(v) && v <= h.goal {
				cell += " ✓"
			}
			line += " " + cell + " |"
		}
		p("%s", line)
	}
	p("")
	p("Medians per run, rotasafe / peer (time, allocations):")
	p("")
	for i, run := range runs {
		var parts []string
		for _, pair := range [][2]string{
			{"BenchmarkMySQLConnect/impl=rotasafe", "BenchmarkMySQLConnect/impl=gosqldriver"},
			{"BenchmarkConnect/impl=rotasafe", "BenchmarkConnect/impl=pgx"},
			{"BenchmarkPoolConnect/impl=rotasafe", "BenchmarkPoolConnect/impl=pgxpool"},
			{"BenchmarkHit/mode=serial/impl=rotasafe", "BenchmarkHit/mode=serial/impl=syncmap"},
			{"BenchmarkHit/mode=parallel/impl=rotasafe", "BenchmarkHit/mode=parallel/impl=syncmap"},
		} {
			name := strings.TrimPrefix(pair[0], "Benchmark")
			name = strings.TrimSuffix(name, "/impl=rotasafe")
			parts = append(parts, fmt.Sprintf("%s %s / %s, %s / %s", name,
				dur(run.r.get(pair[0], "ns/op")), dur(run.r.get(pair[1], "ns/op")),
				num(run.r.get(pair[0], "allocs/op")), num(run.r.get(pair[1], "allocs/op"))))
		}
		p("- run %d (%v, load average %s at the start, %s at the end): %s.", i+1, run.took.Round(time.Second),
			run.load[0], run.load[1], strings.Join(parts, "; "))
	}
	p("%s", hotEnd)
}

// A keptSection of BENCHMARKS.md lies between its begin and end markers and is not the
// template's: a full report carries it over from the old file, -hot rewrites the hot-path one.
type keptSection struct {
	begin, end string
	before     string // where it goes in a document without it: before this line, or at the end
	empty      string // the section's text when the old file has none; "" writes nothing
}

var (
	hotKept = keptSection{begin: hotBegin, end: hotEnd, before: "## 5. Fleet simulation",
		empty: "## Hot paths against their floors\n\nNot measured yet: run `go run ./cmd/report -hot` to fill this section."}
	// otelKept was written by hand from measurements the report does not run.
	otelKept = keptSection{begin: "<!-- kept: opentelemetry, written by hand -->", end: "<!-- end kept: opentelemetry -->",
		before: "## 6. Rotation duration"}
	kept = []keptSection{hotKept, otelKept}
)

// splice returns doc with k's section replaced by sec, or with sec inserted before k.before
// (or at the end) when doc has none.
func (k keptSection) splice(doc, sec []byte) []byte {
	if i, j := bytes.Index(doc, []byte(k.begin)), bytes.Index(doc, []byte(k.end)); i >= 0 && j > i {
		j += len(k.end)
		if j < len(doc) && doc[j] == '\n' {
			j++
		}
		return bytes.Join([][]byte{doc[:i], sec, doc[j:]}, nil)
	}
	if i := bytes.Index(doc, []byte("\n"+k.before)); i >= 0 {
		return bytes.Join([][]byte{doc[:i+1], sec, []byte("\n"), doc[i+1:]}, nil)
	}
	if len(doc) > 0 && !bytes.HasSuffix(doc, []byte("\n\n")) {
		doc = append(doc, '\n')
	}
	return append(doc, sec...)
}

// section returns k's section of doc, markers included, or nil.
func (k keptSection) section(doc []byte) []byte {
	i, j := bytes.Index(doc, []byte(k.begin)), bytes.Index(doc, []byte(k.end))
	if i < 0 || j < i {
		return nil
	}
	return append(doc[i:j+len(k.end):j+len(k.end)], '\n')
}

// keep returns the full report doc with every kept section of old carried over, and the
// hot-path markers with a note when old has no hot-path section.
func keep(doc, old []byte) []byte {
	for _, k := range kept {
		sec := k.section(old)
		if sec == nil && k.empty != "" {
			sec = []byte(k.begin + "\n" + k.empty + "\n" + k.end + "\n")
		}
		if sec != nil {
			doc = k.splice(doc, sec)
		}
	}
	return doc
}

// loadavg returns the 1-, 5- and 15-minute load averages, as uptime shows them.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}
