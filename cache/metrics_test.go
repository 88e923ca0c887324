package cache_test

import (
	"testing"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/telemetry"
	"github.com/rotasafe/rotasafe/internal/telemetry/metrictest"
	"github.com/rotasafe/rotasafe/notice"
)

// TestMetrics checks that the cache records what its Stats count: each GetSecretValue by
// stage and outcome with its duration, stale answers, and hits and misses read from the
// cache's counters until Close.
func TestMetrics(t *testing.T) {
	t.Parallel()
	m := metrictest.New(t)
	e := newEnv(t, cache.WithMeterProvider(m.Provider))
	e.create(t, "app/db", "pw-1")
	e.mustGet(t, "app/db") // a miss: one read
	e.mustGet(t, "app/db") // a hit
	if _, err := e.c.GetStage(t.Context(), "app/db", rotasafe.StagePending); !rotasafe.IsNotFound(err) {
		t.Fatalf("GetStage AWSPENDING: got %v, want not found", err)
	}
	e.srv.Faults().FailNext("GetSecretValue", 100, "ThrottlingException")
	e.clock.Advance(time.Minute)
	e.mustGet(t, "app/db") // expired, the read is throttled: served stale
	e.srv.Faults().Clear()

	got := m.Collect(t)
	st := e.c.Stats()
	secret, cur, pend := telemetry.KeySecret.String("app/db"), telemetry.KeyStage.String(rotasafe.StageCurrent), telemetry.KeyStage.String(rotasafe.StagePending)
	out := telemetry.KeyOutcome.String
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"reads AWSCURRENT ok", got.Sum("rotasafe.cache.reads", secret, cur, out("ok")), 1},
		{"reads AWSCURRENT throttled", got.Sum("rotasafe.cache.reads", secret, cur, out("throttled")), 1},
		{"reads AWSPENDING not_found", got.Sum("rotasafe.cache.reads", secret, pend, out("not_found")), 1},
		{"reads = Stats().APICalls", got.Sum("rotasafe.cache.reads"), int64(st.APICalls)},
		{"read durations = Stats().APICalls", int64(got.Count("rotasafe.cache.read.duration", secret)), int64(st.APICalls)},
		{"stale_served", got.Sum("rotasafe.cache.stale_served", secret), 1},
		{"stale_served = Stats().StaleServed", got.Sum("rotasafe.cache.stale_served"), int64(st.StaleServed)},
		{"hits = Stats().Hits", got.Sum("rotasafe.cache.hits"), int64(st.Hits)},
		{"misses = Stats().Misses", got.Sum("rotasafe.cache.misses"), int64(st.Misses)},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
	if st.Hits == 0 || st.Misses == 0 {
		t.Errorf("Stats: got %d hits and %d misses, want some of each", st.Hits, st.Misses)
	}
	if s := got.Scopes()["rotasafe.cache.reads"]; s != "github.com/rotasafe/rotasafe/cache" {
		t.Errorf("scope: got %q, want the package's import path", s)
	}

	// Close stops the collection of hits and misses.
	e.c.Close()
	if n := m.Collect(t).Sum("rotasafe.cache.hits"); n != 0 {
		t.Errorf("hits after Close: got %d, want none collected", n)
	}
}

// TestNoticeMetrics checks that the notices about a secret the cache reads are counted by
// kind, those about other secrets are not, and the reads they cause count as stage other.
func TestNoticeMetrics(t *testing.T) {
	m := metrictest.New(t)
	e := newNoticeEnv(t, cache.WithMeterProvider(m.Provider))
	v2 := e.put(t, e.id, "pw-2", rotasafe.StagePending)
	e.send(t, notice.PendingStored, v2)
	e.send(t, notice.PasswordChanged, v2)
	e.sendARN(t, e.arn+"-not-read-here", notice.PendingStored, v2)
	e.waitReads(t, 1)

	got := m.Collect(t)
	secret, kind := telemetry.KeySecret.String(e.id), telemetry.KeyNoticeKind.String
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"pending-stored", got.Sum("rotasafe.notices.received", secret, kind(string(notice.PendingStored))), 1},
		{"password-changed", got.Sum("rotasafe.notices.received", secret, kind(string(notice.PasswordChanged))), 1},
		{"all", got.Sum("rotasafe.notices.received"), 2},
		{"reads by version ID", got.Sum("rotasafe.cache.reads", secret, telemetry.KeyStage.String("other"), telemetry.KeyOutcome.String("ok")), e.hintReads()},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
}
