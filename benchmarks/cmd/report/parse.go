package main

import (
	"bufio"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results maps a benchmark's name (without the -GOMAXPROCS suffix) to its values by unit,
// one value per run (-count).
type results map[string]map[string][]float64

var procSuffix = regexp.MustCompile(`-\d+$`)

// parseBench reads `go test -bench` output. Lines that are not benchmark results are skipped.
func parseBench(r io.Reader, into results) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			if into[name] == nil {
				into[name] = map[string][]float64{}
			}
			into[name][f[i+1]] = append(into[name][f[i+1]], v)
		}
	}
	return sc.Err()
}

// median returns the median of xs, or NaN when xs is empty, as benchstat does.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return nan
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// get returns the median of a benchmark's unit, NaN when missing.
func (r results) get(name, unit string) float64 { return median(r[name][unit]) }

// n returns how many runs a benchmark's unit has.
func (r results) n(name, unit string) int { return len(r[name][unit]) }

// paired returns the median of the per-run ratios a/b of two benchmarks that ran in the same
// rounds (one value each per round), which cancels the drift of a shared machine better than
// the ratio of medians; it falls back to the ratio of medians when the runs do not pair up.
func (r results) paired(a, b, unit string) float64 {
	x, y := r[a][unit], r[b][unit]
	if len(x) == 0 || len(x) != len(y) {
		return r.get(a, unit) / r.get(b, unit)
	}
	q := make([]float64, len(x))
	for i := range x {
		q[i] = x[i] / y[i]
	}
	return median(q)
}
