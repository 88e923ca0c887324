package cache_test

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
)

// TestBadOptionsPanicInNew: a value no option accepts is a programming error, reported by
// New with the option's name, not clamped silently.
func TestBadOptionsPanicInNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  cache.Option
	}{
		{"WithTTL", cache.WithTTL(-time.Second)},
		{"WithMaxEntries", cache.WithMaxEntries(-1)},
		{"WithMinRefreshInterval", cache.WithMinRefreshInterval(-1)},
		{"WithRefreshAhead", cache.WithRefreshAhead(-0.1)},
		{"WithRefreshAhead", cache.WithRefreshAhead(7)},
		{"WithNegativeTTL", cache.WithNegativeTTL(-1)},
		{"WithFetchTimeout", cache.WithFetchTimeout(-1)},
		{"WithWarmWindow", cache.WithWarmWindow(-1)},
	}
	e := newEnv(t)
	for _, tt := range tests {
		func() {
			defer func() {
				r := recover()
				if msg := fmt.Sprint(r); r == nil || !strings.Contains(msg, tt.name) {
					t.Errorf("New with a bad %s: recovered %v, want a panic naming the option", tt.name, r)
				}
			}()
			c := cache.New(e.client, tt.opt)
			c.Close()
		}()
	}
}

// TestZeroAndNegativeOptions: values the options document as "keep the default" or
// "off" give a working cache, never a panic (caching-go panics on MaxCacheSize 0).
func TestZeroAndNegativeOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []cache.Option
	}{
		{"zero", []cache.Option{cache.WithTTL(0), cache.WithMaxEntries(0), cache.WithMaxStale(0),
			cache.WithMinRefreshInterval(0), cache.WithRefreshAhead(0), cache.WithNegativeTTL(0),
			cache.WithFetchTimeout(0), cache.WithWarmWindow(0), cache.WithLogger(nil), cache.WithClock(nil), cache.WithRand(nil)}},
		{"negative MaxStale (no limit)", []cache.Option{cache.WithMaxStale(-1)}},
		{"largest", []cache.Option{cache.WithRefreshAhead(0.5), cache.WithLogger(slog.Default())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.create(t, "app/db", "pw-1")
			c := cache.New(e.client, tt.opts...)
			defer c.Close()
			for range 3 {
				if _, err := c.Get(t.Context(), "app/db"); err != nil {
					t.Fatalf("Get: %v", err)
				}
			}
			if _, err := c.Refresh(t.Context(), "app/db"); err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if st := c.Stats(); st.Hits != 2 || st.APICalls != 2 {
				t.Errorf("stats: got %+v, want 2 hits and 2 API calls", st)
			}
		})
	}
}

// TestRealClockExpiry runs on the real clock: the coarse clock goroutine moves hits past
// expiry. It waits for the refetch; it does not time it.
func TestRealClockExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "app/db", "pw-1")
	c := cache.New(e.client, cache.WithTTL(20*time.Millisecond), cache.WithRefreshAhead(0))
	defer c.Close()
	v2 := ""
	eventually(t, "a fetch after expiry", func() bool {
		v, err := c.Get(t.Context(), "app/db")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if v2 == "" {
			v2 = e.put(t, "app/db", "pw-2")
		}
		return v.ID == v2
	})
}

// TestForgottenCacheStopsItsClock: a Cache dropped without Close does not leave its clock
// goroutine running for ever.
func TestForgottenCacheStopsItsClock(t *testing.T) {
	e := newEnv(t)
	c := cache.New(e.client)
	eventually(t, "the clock goroutine to start", func() bool { return len(cacheGoroutines()) > 0 })
	runtime.KeepAlive(c) // up to here; from now on only the cleanup can stop the goroutine
	eventually(t, "the clock goroutine to stop", func() bool {
		runtime.GC()
		return len(cacheGoroutines()) == 0
	})
}

// TestHitDoesNotAllocate pins the hit path's zero allocations (Get, GetStage, GetParsed).
func TestHitDoesNotAllocate(t *testing.T) {
	e := newEnv(t)
	e.create(t, "app/db", dbJSON("pw-1"))
	c := cache.New(e.client)
	defer c.Close()
	ctx := t.Context()
	parse := func(v rotasafe.Version) (rotasafe.DBSecret, error) {
		return rotasafe.ParseDBSecret([]byte(v.SecretString))
	}
	if _, _, err := cache.GetParsed(ctx, c, "app/db", parse); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetStage(ctx, "app/db", rotasafe.StagePrevious); !rotasafe.IsNotFound(err) {
		t.Fatalf("GetStage AWSPREVIOUS: got %v, want NotFound", err)
	}
	tests := []struct {
		name string
		f    func()
	}{
		{"Get", func() { c.Get(ctx, "app/db") }},
		{"GetStage", func() { c.GetStage(ctx, "app/db", rotasafe.StageCurrent) }},
		{"GetStage missing", func() { c.GetStage(ctx, "app/db", rotasafe.StagePrevious) }},
		{"GetParsed", func() { cache.GetParsed(ctx, c, "app/db", parse) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per hit, want 0", tt.name, n)
		}
	}
}

func TestNewNilAPIPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "nil rotasafe.API") {
			t.Errorf("New(nil): got panic %v, want one naming the nil API", r)
		}
	}()
	cache.New(nil)
}
