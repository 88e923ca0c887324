package main

import (
	"math"
	"strings"
	"testing"
)

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkHit/mode=serial/impl=rotasafe-2         	12116474	        25.31 ns/op	       0 B/op	       0 allocs/op
BenchmarkHit/mode=serial/impl=rotasafe-2         	12185734	        27.66 ns/op	       0 B/op	       0 allocs/op
BenchmarkHit/mode=serial/impl=rotasafe-2         	 5159600	        64.21 ns/op	       0 B/op	       0 allocs/op
BenchmarkHerd/k=10/impl=rotasafe-2         	       3	    460570 ns/op	         1.000 calls/herd	         0 failed/herd	   42472 B/op	     490 allocs/op
--- FAIL: BenchmarkX
BenchmarkBroken-2 notanumber 1 ns/op
PASS
`
	r := results{}
	if err := parseBench(strings.NewReader(out), r); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, unit string
		want       float64
		n          int
	}{
		{"BenchmarkHit/mode=serial/impl=rotasafe", "ns/op", 27.66, 3},
		{"BenchmarkHit/mode=serial/impl=rotasafe", "allocs/op", 0, 3},
		{"BenchmarkHerd/k=10/impl=rotasafe", "calls/herd", 1, 1},
		{"BenchmarkHerd/k=10/impl=rotasafe", "failed/herd", 0, 1},
	}
	for _, tt := range tests {
		if got := r.get(tt.name, tt.unit); got != tt.want {
			t.Errorf("%s %s: got %v, want %v", tt.name, tt.unit, got, tt.want)
		}
		if got := r.n(tt.name, tt.unit); got != tt.n {
			t.Errorf("%s %s: got %d runs, want %d", tt.name, tt.unit, got, tt.n)
		}
	}
	if _, ok := r["BenchmarkBroken"]; ok {
		t.Error("got a result for a malformed line, want none")
	}
	if got := r.get("BenchmarkMissing", "ns/op"); !math.IsNaN(got) {
		t.Errorf("missing benchmark: got %v, want NaN", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
	} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPaired(t *testing.T) {
	r := results{
		"a": {"ns/op": {10, 40, 90}},
		"b": {"ns/op": {5, 10, 30}},
		"c": {"ns/op": {1, 2}},
	}
	// Per-round ratios 2, 4, 3: median 3 (the ratio of medians would be 4).
	if got := r.paired("a", "b", "ns/op"); got != 3 {
		t.Errorf("paired a/b: got %v, want 3", got)
	}
	// Runs that do not pair up fall back to the ratio of medians: 40 / 1.5.
	if got, want := r.paired("a", "c", "ns/op"), 40/1.5; got != want {
		t.Errorf("paired a/c: got %v, want %v", got, want)
	}
}
