package cache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
)

func TestGetHitsAndMisses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v1 := e.create(t, "app/db", "pw-1")
	for i := range 10 {
		v := e.mustGet(t, "app/db")
		if v.ID != v1 || v.SecretString != "pw-1" {
			t.Fatalf("read %d: got %v, want version %s", i, v, v1)
		}
	}
	if got := e.calls(); got != 1 {
		t.Errorf("GetSecretValue calls: got %d, want 1", got)
	}
	st := e.c.Stats()
	if st.Hits != 9 || st.Misses != 1 || st.APICalls != 1 {
		t.Errorf("stats: got %+v, want 9 hits, 1 miss, 1 API call", st)
	}
}

func TestGetStage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v1 := e.create(t, "app/db", "pw-1")
	v2 := e.put(t, "app/db", "pw-2")
	tests := []struct {
		stage string
		want  string
	}{
		{rotasafe.StageCurrent, v2},
		{rotasafe.StagePrevious, v1},
	}
	for _, tt := range tests {
		v, err := e.c.GetStage(t.Context(), "app/db", tt.stage)
		if err != nil || v.ID != tt.want {
			t.Errorf("GetStage %s: got %v, %v; want version %s", tt.stage, v, err, tt.want)
		}
	}
	_, err := e.c.GetStage(t.Context(), "app/db", rotasafe.StagePending)
	if !rotasafe.IsNotFound(err) {
		t.Errorf("GetStage AWSPENDING: got %v, want ResourceNotFoundException", err)
	}
}

func TestTTLExpiryRefreshes(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // TTL 1 min exactly (fixedRand), no refresh-ahead
	e.create(t, "app/db", "pw-1")
	e.mustGet(t, "app/db")
	v2 := e.put(t, "app/db", "pw-2")

	e.clock.Advance(59 * time.Second)
	if v := e.mustGet(t, "app/db"); v.ID == v2 || e.calls() != 1 {
		t.Fatalf("before expiry: got %v after %d calls, want the cached first version after 1", v, e.calls())
	}
	e.clock.Advance(time.Second)
	if v := e.mustGet(t, "app/db"); v.ID != v2 {
		t.Fatalf("after expiry: got %v, want version %s", v, v2)
	}
	if got := e.calls(); got != 2 {
		t.Errorf("GetSecretValue calls: got %d, want 2", got)
	}
	if st := e.c.Stats(); st.Refreshes != 1 {
		t.Errorf("Refreshes: got %d, want 1", st.Refreshes)
	}
}

func TestTTLJitterSpreadsExpiry(t *testing.T) {
	t.Parallel()
	// With the jitter source at its extremes, the TTL is 0.9 and 1.1 times the setting.
	tests := []struct {
		name      string
		r         uint64
		fresh     time.Duration // still cached at this age
		refreshed time.Duration // fetched again at this age
	}{
		{"low", 0, 53 * time.Second, 54 * time.Second},
		{"high", ^uint64(0), 65 * time.Second, 66 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, cache.WithRand(constRand(tt.r)))
			e.create(t, "app/db", "pw-1")
			e.mustGet(t, "app/db")
			e.clock.Advance(tt.fresh)
			e.mustGet(t, "app/db")
			if got := e.calls(); got != 1 {
				t.Fatalf("at %v: got %d calls, want 1", tt.fresh, got)
			}
			e.clock.Advance(tt.refreshed - tt.fresh)
			e.mustGet(t, "app/db")
			if got := e.calls(); got != 2 {
				t.Fatalf("at %v: got %d calls, want 2", tt.refreshed, got)
			}
		})
	}
}

type constRand uint64

func (r constRand) Uint64() uint64 { return uint64(r) }

// TestConcurrentMissesShareOneCall checks that concurrent misses of one secret share a
// single GetSecretValue call.
func TestConcurrentMissesShareOneCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "app/db", "pw-1")
	e.srv.Faults().Latency("GetSecretValue", 50*time.Millisecond)
	e.getAtOnce(t, 200, "app/db", "")
	if got := e.calls(); got != 1 {
		t.Errorf("GetSecretValue calls: got %d, want 1", got)
	}
}

// TestCancelledWaiterDoesNotFailOthers checks that the caller that started a shared fetch
// giving up does not fail the callers waiting on that fetch, nor make it run again.
func TestCancelledWaiterDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "app/db", "pw-1")
	e.srv.Faults().Latency("GetSecretValue", 100*time.Millisecond)

	// The first caller starts the shared fetch and gives up at once.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.c.Get(ctx, "app/db"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: got %v, want context.Canceled", err)
	}
	e.getAtOnce(t, 20, "app/db", "pw-1") // the waiters
	if got := e.calls(); got != 1 {
		t.Errorf("GetSecretValue calls: got %d, want 1 (the cancelled caller's fetch, shared)", got)
	}
}

func TestRereadHerd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v1 := e.create(t, "app/db", "pw-1")
	e.mustGet(t, "app/db")
	v2 := e.put(t, "app/db", "pw-2") // rotated behind the cache's back
	e.srv.ResetCalls()
	e.srv.Faults().Latency("GetSecretValue", 20*time.Millisecond)

	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 1000 {
		wg.Go(func() {
			<-start
			v, err := e.c.Reread(t.Context(), "app/db", rotasafe.StageCurrent, v1)
			if err != nil || v.ID != v2 {
				t.Errorf("Reread: got %v, %v; want version %s", v, err, v2)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := e.calls(); got != 1 {
		t.Fatalf("GetSecretValue calls for 1000 Reread: got %d, want 1", got)
	}
	if v := e.mustGet(t, "app/db"); v.ID != v2 {
		t.Errorf("Get after Reread: got %v, want version %s", v, v2)
	}
	// A late caller with the old version: answered from the cache.
	if v, err := e.c.Reread(t.Context(), "app/db", rotasafe.StageCurrent, v1); err != nil || v.ID != v2 || e.calls() != 1 {
		t.Errorf("late Reread: got %v, %v after %d calls; want %s after 1", v, err, e.calls(), v2)
	}
	// A caller that does not know its version always refreshes (past the floor).
	e.clock.Advance(time.Second)
	if v, err := e.c.Reread(t.Context(), "app/db", rotasafe.StageCurrent, ""); err != nil || v.ID != v2 || e.calls() != 2 {
		t.Errorf("Reread without a version: got %v, %v after %d calls; want %s after 2", v, err, e.calls(), v2)
	}
}

func TestForcedRefreshFloor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cache.WithMinRefreshInterval(time.Second))
	v1 := e.create(t, "app/db", "pw-1")
	e.mustGet(t, "app/db")
	e.srv.ResetCalls()

	// v1 is AWSCURRENT and still rejected (say, a wrong password in the secret): inside the
	// floor every caller shares the last forced answer of its reason: one read for the
	// rejected v1, one for Refresh.
	for i := range 10 {
		v, err := e.c.Reread(t.Context(), "app/db", rotasafe.StageCurrent, v1)
		if err != nil || v.ID != v1 {
			t.Fatalf("Reread %d: got %v, %v", i, v, err)
		}
		if _, err := e.c.Refresh(t.Context(), "app/db"); err != nil {
			t.Fatalf("Refresh %d: %v", i, err)
		}
	}
	if got := e.calls(); got != 2 {
		t.Fatalf("forced calls inside the floor: got %d, want 2 (one per reason)", got)
	}
	v2 := e.put(t, "app/db", "pw-2")
	e.clock.Advance(time.Second)
	if v, err := e.c.Reread(t.Context(), "app/db", rotasafe.StageCurrent, v1); err != nil || v.ID != v2 {
		t.Fatalf("Reread after the floor: got %v, %v; want version %s", v, err, v2)
	}
	if got := e.calls(); got != 3 {
		t.Errorf("forced calls after the floor: got %d, want 3", got)
	}
}

// TestRereadFloorPerRejectedVersion is what lets back-to-back rotations each get their read:
// a version rejected for the first time is read for at once, inside the floor of another.
func TestRereadFloorPerRejectedVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cache.WithMinRefreshInterval(time.Hour))
	v1 := e.create(t, "app/db", "pw-1")
	e.mustGet(t, "app/db")
	ctx := t.Context()
	e.srv.ResetCalls()

	v2 := e.put(t, "app/db", "pw-2", rotasafe.StagePending)
	if v, err := e.c.Reread(ctx, "app/db", rotasafe.StagePending, v1); err != nil || v.ID != v2 {
		t.Fatalf("Reread(AWSPENDING) after v1 was rejected: got %v, %v; want %s", v, err, v2)
	}
	v3 := e.put(t, "app/db", "pw-3", rotasafe.StagePending)
	// v1 again, inside the floor: the answer is shared, no call.
	if v, err := e.c.Reread(ctx, "app/db", rotasafe.StagePending, v1); err != nil || v.ID != v2 {
		t.Fatalf("Reread for v1 again: got %v, %v; want the shared %s", v, err, v2)
	}
	if got := e.calls(); got != 1 {
		t.Fatalf("calls after two reports of v1: got %d, want 1", got)
	}
	// v2 is newly rejected (the next rotation changed the password): read at once.
	if v, err := e.c.Reread(ctx, "app/db", rotasafe.StagePending, v2); err != nil || v.ID != v3 {
		t.Fatalf("Reread after v2 was rejected: got %v, %v; want %s", v, err, v3)
	}
	if got := e.calls(); got != 2 {
		t.Errorf("calls after v2 was rejected: got %d, want 2", got)
	}
}

func TestLRUBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cache.WithMaxEntries(3))
	ids := []string{"s0", "s1", "s2", "s3", "s4"}
	for _, id := range ids {
		e.create(t, id, "pw-"+id)
		e.mustGet(t, id)
	}
	if st := e.c.Stats(); st.Evictions != 2 || e.c.Len() != 3 {
		t.Fatalf("Evictions: got %d and %d entries, want 2 and 3", st.Evictions, e.c.Len())
	}
	// s2..s4 are cached; s0 was evicted and costs a call.
	for _, id := range ids[2:] {
		e.mustGet(t, id)
	}
	if got := e.calls(); got != 5 {
		t.Fatalf("after reading the 3 kept: got %d calls, want 5", got)
	}
	e.mustGet(t, "s0")
	if got := e.calls(); got != 6 {
		t.Errorf("after reading an evicted one: got %d calls, want 6", got)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	e := newEnv(t)
	e.create(t, "app/db", "pw-1")
	e.mustGet(t, "app/db")
	if g := cacheGoroutines(); len(g) != 0 {
		t.Fatalf("cache goroutines before the test: %q", g)
	}

	c := cache.New(e.client, cache.WithWarm("app/db", "other"), cache.WithWarmWindow(time.Hour), cache.WithRefreshAhead(0.5))
	t.Cleanup(func() { c.Close() }) // if the test fails early
	e.srv.Faults().Latency("GetSecretValue", time.Hour)
	waiter := make(chan error, 1)
	go func() { // a fetch that will not finish by itself
		_, err := c.Refresh(context.Background(), "app/db")
		waiter <- err
	}()
	eventually(t, "the fetch to start", func() bool { return e.calls() >= 2 })
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-waiter; !errors.Is(err, cache.ErrClosed) {
		t.Errorf("a caller waiting at Close: got %v, want ErrClosed", err)
	}
	// Close waited for them: none may be left, not even one on its way out.
	if g := cacheGoroutines(); len(g) != 0 {
		t.Fatalf("goroutines left after Close: %q", g)
	}

	ctx := t.Context()
	checks := []struct {
		name string
		err  error
	}{
		{"Get", second(c.Get(ctx, "app/db"))},
		{"GetStage", second(c.GetStage(ctx, "app/db", rotasafe.StagePending))},
		{"Refresh", second(c.Refresh(ctx, "app/db"))},
		{"Reread", second(c.Reread(ctx, "app/db", rotasafe.StageCurrent, "x"))},
		{"Warm", c.Warm(ctx, "app/db")},
		{"GetParsed", third(cache.GetParsed(ctx, c, "app/db", func(v rotasafe.Version) (string, error) { return v.ID, nil }))},
	}
	for _, ch := range checks {
		if !errors.Is(ch.err, cache.ErrClosed) {
			t.Errorf("%s after Close: got %v, want ErrClosed", ch.name, ch.err)
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func second[A any](_ A, err error) error        { return err }
func third[A, B any](_ A, _ B, err error) error { return err }

func TestWarmFetchesAll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cache.WithWarmWindow(20*time.Millisecond))
	ids := []string{"a", "b", "c", "d"}
	for _, id := range ids {
		e.create(t, id, "pw-"+id)
	}
	if err := e.c.Warm(t.Context(), append(ids, "missing")...); !rotasafe.IsNotFound(err) {
		t.Fatalf("Warm: got %v, want the missing secret's NotFound", err)
	}
	for _, id := range ids {
		e.mustGet(t, id)
	}
	if got := e.calls(); got != 5 {
		t.Errorf("GetSecretValue calls: got %d, want 5 (one per warmed ID)", got)
	}
}

func TestWarmOption(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "a", "pw-a")
	c := cache.New(e.client, cache.WithWarm("a"), cache.WithWarmWindow(time.Millisecond))
	defer c.Close()
	eventually(t, "the warm-up fetch", func() bool { return c.Stats().APICalls == 1 })
	eventually(t, "the warm-up to settle", func() bool {
		_, err := c.Get(t.Context(), "a")
		return err == nil && c.Stats().Hits > 0
	})
	if got := e.calls(); got != 1 {
		t.Errorf("GetSecretValue calls: got %d, want 1", got)
	}
}

// holdingAPI is the real client whose next GetSecretValue, once armed, gets its answer and
// then holds it until released: a slow fetch that returns an old answer late.
type holdingAPI struct {
	rotasafe.API
	armed   atomic.Bool
	held    chan struct{} // closed when the held call has its answer
	release chan struct{}
}

func (h *holdingAPI) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	out, err := h.API.GetSecretValue(ctx, in, optFns...)
	if h.armed.CompareAndSwap(true, false) {
		close(h.held)
		<-h.release
	}
	return out, err
}

func TestLateOlderAnswerDoesNotOverwriteNewer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := &holdingAPI{API: e.client, held: make(chan struct{}), release: make(chan struct{})}
	c := cache.New(api, cache.WithClock(e.clock.Now), cache.WithRand(fixedRand{}), cache.WithTTL(time.Minute), cache.WithRefreshAhead(0))
	defer c.Close()
	v1 := e.create(t, "app/db", "pw-1")
	if _, err := c.Get(t.Context(), "app/db"); err != nil {
		t.Fatal(err)
	}

	// Expired: a read's fetch gets v1 and is held.
	e.clock.Advance(time.Minute)
	api.armed.Store(true)
	slow := make(chan rotasafe.Version, 1)
	go func() {
		v, err := c.Get(t.Context(), "app/db")
		if err != nil {
			t.Errorf("slow Get: %v", err)
		}
		slow <- v
	}()
	<-api.held

	// Meanwhile the secret rotates and a rejected caller forces a refresh: v2.
	v2 := e.put(t, "app/db", "pw-2")
	e.clock.Advance(time.Millisecond)
	if v, err := c.Reread(t.Context(), "app/db", rotasafe.StageCurrent, v1); err != nil || v.ID != v2 {
		t.Fatalf("Reread: got %v, %v; want %s", v, err, v2)
	}
	close(api.release)
	if v := <-slow; v.ID != v2 {
		t.Errorf("the slow read: got %v, want the newer %s", v, v2)
	}
	if v, err := c.Get(t.Context(), "app/db"); err != nil || v.ID != v2 {
		t.Errorf("Get after both: got %v, %v; want %s (the late v1 must not win)", v, err, v2)
	}
}
