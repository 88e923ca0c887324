package main

import (
	"bufio"
	"bytes"
	"github.com/rotasafe/rotasafe/internal/testserver"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/telemetry"
)

// TestServeMetrics checks -metrics' endpoint: rotasafe's instruments, made from the global
// provider as the library makes them by default, show under their Prometheus names, and a
// second scrape sees the counters move.
func TestServeMetrics(t *testing.T) {
	m := startMetrics(t)
	login := telemetry.NewLogin(nil, "github.com/rotasafe/rotasafe/login").For("sqlconn", "demo/app")
	var hits uint64 = 5
	stop := telemetry.NewCache(nil, "github.com/rotasafe/rotasafe/cache").ObserveHits(func() (uint64, uint64) { return hits, 1 })
	defer stop()

	attempts := []string{"rotasafe_login_attempts_total", `otel_scope_name="github.com/rotasafe/rotasafe/login"`,
		`rotasafe_client="sqlconn"`, `rotasafe_secret="demo/app"`, `rotasafe_stage="AWSPREVIOUS"`, `rotasafe_outcome="rejected"`}
	cacheHits := []string{"rotasafe_cache_hits_total", `otel_scope_name="github.com/rotasafe/rotasafe/cache"`}
	durations := []string{"rotasafe_login_duration_seconds_count", `rotasafe_client="sqlconn"`, `rotasafe_outcome="rejected"`}

	login.Attempt(t.Context(), rotasafe.StagePrevious, telemetry.LoginRejected, time.Millisecond)
	first := scrape(t, m.URL)
	login.Attempt(t.Context(), rotasafe.StagePrevious, telemetry.LoginRejected, time.Millisecond)
	hits = 8
	second := scrape(t, m.URL)
	for _, c := range []struct {
		series        []string
		first, second float64
	}{{attempts, 1, 2}, {cacheHits, 5, 8}, {durations, 1, 2}} {
		f, s := sample(t, first, c.series...), sample(t, second, c.series...)
		if f != c.first || s != c.second {
			t.Errorf("%v: got %v then %v, want %v then %v", c.series, f, s, c.first, c.second)
		}
	}
}

// startMetrics serves the metrics on a free port, as -metrics does, until t ends.
func startMetrics(t *testing.T) *metricsServer {
	t.Helper()
	m, err := serveMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// sample returns the value of the one series in samples named series[0] with every label
// of series[1:] (written k="v"), failing t unless there is exactly one.
func sample(t testing.TB, samples map[string]float64, series ...string) float64 {
	t.Helper()
	name, labels := series[0], series[1:]
	var found []string
	for s := range samples {
		n, ls, _ := strings.Cut(s, "{")
		if n != name {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && (strings.Contains(ls, l+",") || strings.Contains(ls, l+"}"))
		}
		if all {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d series match, want 1: %q", name, labels, len(found), found)
	}
	return samples[found[0]]
}

// scrape returns the samples at url by series (name and labels, as written).
func scrape(t testing.TB, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return parseSamples(t, resp.Body)
}

// parseSamples reads Prometheus's text format from r: the samples by series.
func parseSamples(t testing.TB, r io.Reader) map[string]float64 {
	t.Helper()
	samples := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return samples
}

// total adds up the samples of every series named name with every label of labels.
func total(samples map[string]float64, name string, labels ...string) float64 {
	var sum float64
	for s, v := range samples {
		n, ls, _ := strings.Cut(s, "{")
		all := n == name
		for _, l := range labels {
			all = all && (strings.Contains(ls, l+",") || strings.Contains(ls, l+"}"))
		}
		if all {
			sum += v
		}
	}
	return sum
}

// TestDemoMetricsMidRotation runs the demo with its metrics endpoint, as -metrics does, and
// scrapes it while the demo rotates and its workers log in: once after the first rotation,
// again after the third. Between the two scrapes the rotation steps, the login attempts and
// the cache's reads and hits have moved.
func TestDemoMetricsMidRotation(t *testing.T) {
	m := startMetrics(t)
	u := newUntil(4)
	u.rejected = true
	var scrapes [][]byte // taken on the run's stop goroutine, parsed after the run
	var scrapeErr error
	stop := func(p progress) bool {
		if len(scrapes) == 0 && p.Rotations >= 1 || len(scrapes) == 1 && p.Rotations >= 3 {
			resp, err := http.Get(m.URL)
			if err != nil {
				scrapeErr = err
				return true
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				scrapeErr = err
				return true
			}
			scrapes = append(scrapes, b)
		}
		return u.stop(p)
	}
	cfg := config{duration: hangGuard, rotateEvery: 300 * time.Millisecond, workers: 4, strategy: "single", stop: stop}
	var out bytes.Buffer
	sum, err := run(t.Context(), cfg, newStatus(&out, false))
	testserver.SkipOrFail(t, err)
	if err != nil {
		t.Fatal(err)
	}
	if scrapeErr != nil {
		t.Fatal(scrapeErr)
	}
	u.check(t, sum, out.String())
	if len(scrapes) != 2 {
		t.Fatalf("got %d scrapes during the run, want 2", len(scrapes))
	}
	first, second := parseSamples(t, bytes.NewReader(scrapes[0])), parseSamples(t, bytes.NewReader(scrapes[1]))
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"rotasafe_rotation_steps_total", []string{`rotasafe_step="finishSecret"`, `rotasafe_outcome="ok"`}},
		{"rotasafe_rotation_step_duration_seconds_count", []string{`rotasafe_step="setSecret"`}},
		{"rotasafe_login_attempts_total", []string{`rotasafe_client="sqlconn"`, `rotasafe_outcome="ok"`}},
		{"rotasafe_cache_reads_total", []string{`rotasafe_outcome="ok"`}},
		{"rotasafe_cache_hits_total", nil},
	} {
		f, s := total(first, c.name, c.labels...), total(second, c.name, c.labels...)
		if f <= 0 || s <= f {
			t.Errorf("%s%v: got %v then %v, want a count that moves up", c.name, c.labels, f, s)
		}
	}
	if f := total(first, "rotasafe_rotation_steps_total", `rotasafe_step="finishSecret"`, `rotasafe_outcome="ok"`); f < 1 {
		t.Errorf("finishSecret after the first rotation: got %v, want at least 1", f)
	}
	t.Logf("rejected logins by the second scrape: %v", total(second, "rotasafe_login_attempts_total", `rotasafe_outcome="rejected"`))
}
