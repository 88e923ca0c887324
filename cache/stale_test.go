package cache_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
)

// failGets starts a fault episode in which every GetSecretValue fails with code.
func failGets(code string) func(e *env) {
	return func(e *env) { e.srv.Faults().FailNext("GetSecretValue", 1000, code) }
}

// clearFaults ends a fault episode.
func clearFaults(e *env) { e.srv.Faults().Clear() }

// TestTransientFailuresServeStale walks one failure episode per kind of fault: within
// MaxStale the last good version is served (logged once) without an API call per read; past
// MaxStale the error wraps the cause; when the fault ends, a fresh version comes back.
func TestTransientFailuresServeStale(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		code     string // the code the final error carries
		start    func(e *env)
		stop     func(e *env)
		maxStale time.Duration
	}{
		{
			name:  "outage",
			code:  "ServiceUnavailable",
			start: func(e *env) { e.srv.Faults().Outage(true) },
			stop:  func(e *env) { e.srv.Faults().Outage(false) },
		},
		{
			name:  "throttling",
			code:  "ThrottlingException",
			start: failGets("ThrottlingException"),
			stop:  clearFaults,
		},
		{
			name: "rate limit",
			code: "ThrottlingException",
			start: func(e *env) {
				e.srv.Faults().RateLimit("GetSecretValue", 0.0001, 1)
				// Take the one token the bucket starts with.
				e.client.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
			},
			stop: clearFaults,
		},
		{
			name:  "quota",
			code:  "LimitExceededException",
			start: failGets("LimitExceededException"),
			stop:  clearFaults,
		},
		{
			name:  "internal error",
			code:  "InternalServiceError",
			start: failGets("InternalServiceError"),
			stop:  clearFaults,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t) // TTL 1 min, MaxStale 10 min, exact jitter
			v1 := e.create(t, "app/db", "pw-1")
			e.mustGet(t, "app/db")
			tt.start(e)

			// Expired: the reader waits for one fetch, which fails; it gets v1.
			e.clock.Advance(time.Minute)
			if v := e.mustGet(t, "app/db"); v.ID != v1 {
				t.Fatalf("at expiry: got %v, want stale %s", v, v1)
			}
			calls := e.calls()
			// Inside the backoff: no call per read.
			for range 50 {
				if v := e.mustGet(t, "app/db"); v.ID != v1 {
					t.Fatalf("in backoff: got %v, want stale %s", v, v1)
				}
			}
			if got := e.calls(); got != calls {
				t.Fatalf("reads in backoff made %d calls, want none", got-calls)
			}
			// Later, within MaxStale: still v1, the retries run in the background.
			for range 5 {
				e.clock.Advance(time.Minute)
				if v := e.mustGet(t, "app/db"); v.ID != v1 {
					t.Fatalf("within MaxStale: got %v, want stale %s", v, v1)
				}
			}
			// Past MaxStale: the error, wrapping the cause.
			e.clock.Advance(10 * time.Minute)
			var err error
			eventually(t, "an error past MaxStale", func() bool {
				_, err = e.c.Get(t.Context(), "app/db")
				return err != nil
			})
			if got := rotasafe.ErrorCode(err); got != tt.code {
				t.Errorf("error past MaxStale: got %v (code %q), want code %q", err, got, tt.code)
			}
			noSecret(t, err)
			st := e.c.Stats()
			if st.StaleServed < 56 || st.Errors == 0 {
				t.Errorf("stats: got %+v, want >= 56 stale reads and some errors", st)
			}
			if n := strings.Count(e.logs.String(), "serving a stale secret"); n != 1 {
				t.Errorf("stale episode logged %d times, want once", n)
			}

			// Recovery: after the backoff a read fetches again and gets the new version.
			tt.stop(e)
			v2 := e.put(t, "app/db", "pw-2")
			e.clock.Advance(time.Minute)
			if v := e.mustGet(t, "app/db"); v.ID != v2 {
				t.Fatalf("after recovery: got %v, want %s", v, v2)
			}
			if !strings.Contains(e.logs.String(), "stale episode over") {
				t.Errorf("recovery not logged:\n%s", e.logs.String())
			}
		})
	}
}

func TestMaxStaleZeroNeverServesStale(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cache.WithMaxStale(0))
	e.create(t, "app/db", "pw-1")
	e.mustGet(t, "app/db")
	e.srv.Faults().Outage(true)
	e.clock.Advance(time.Minute)
	if v, err := e.c.Get(t.Context(), "app/db"); err == nil || rotasafe.ErrorCode(err) != "ServiceUnavailable" {
		t.Fatalf("got %v, %v; want the outage's error", v, err)
	}
}

// TestAnswersAboutTheSecretAreNotHidden: NotFound and AccessDenied reach the caller at once,
// even with a good version cached, and are remembered rather than asked for on every read.
func TestAnswersAboutTheSecretAreNotHidden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fault    func(t *testing.T, e *env)
		notFound bool
		code     string
	}{
		{
			name: "deleted",
			fault: func(t *testing.T, e *env) {
				_, err := e.client.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{
					SecretId: aws.String("app/db"), ForceDeleteWithoutRecovery: aws.Bool(true)})
				if err != nil {
					t.Fatal(err)
				}
			},
			notFound: true,
			code:     "ResourceNotFoundException",
		},
		{
			name:  "access denied",
			fault: func(_ *testing.T, e *env) { e.srv.Faults().FailNext("GetSecretValue", 1000, "AccessDeniedException") },
			code:  "AccessDeniedException",
		},
		{
			name:  "decryption failure",
			fault: func(_ *testing.T, e *env) { e.srv.Faults().FailNext("GetSecretValue", 1000, "DecryptionFailure") },
			code:  "DecryptionFailure",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.create(t, "app/db", "pw-1")
			e.mustGet(t, "app/db")
			tt.fault(t, e)
			e.clock.Advance(time.Minute)
			_, err := e.c.Get(t.Context(), "app/db")
			if rotasafe.IsNotFound(err) != tt.notFound || rotasafe.ErrorCode(err) != tt.code {
				t.Fatalf("got %v, want code %s", err, tt.code)
			}
			if !strings.Contains(err.Error(), "app/db") {
				t.Errorf("error does not name the secret: %v", err)
			}
			noSecret(t, err)
			calls := e.calls()
			for range 20 {
				if _, err := e.c.Get(t.Context(), "app/db"); rotasafe.ErrorCode(err) != tt.code {
					t.Fatalf("repeat: got %v, want code %s", err, tt.code)
				}
			}
			if got := e.calls(); got != calls {
				t.Errorf("20 repeated reads made %d calls, want 0 (remembered)", got-calls)
			}
			if st := e.c.Stats(); st.StaleServed != 0 {
				t.Errorf("StaleServed: got %d, want 0", st.StaleServed)
			}
		})
	}
}

func TestColdFailureBacksOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "app/db", "pw-1")
	e.srv.Faults().Outage(true)
	for i := range 20 {
		if _, err := e.c.Get(t.Context(), "app/db"); rotasafe.ErrorCode(err) != "ServiceUnavailable" {
			t.Fatalf("read %d: got %v, want the outage's error", i, err)
		}
	}
	// One fetch of two SDK attempts; the other reads are inside the backoff.
	if got := e.calls(); got != 2 {
		t.Fatalf("GetSecretValue requests: got %d, want 2", got)
	}
	e.srv.Faults().Outage(false)
	e.clock.Advance(backoffMax)
	e.mustGet(t, "app/db")
}

const backoffMax = 30 * time.Second

func TestBackoffGrows(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // each backoff is within [d/2, d] for d = 1 s, 2 s, 4 s, ...
	e.create(t, "app/db", "pw-1")
	e.srv.Faults().Outage(true)
	ceilings := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, d := range ceilings {
		before := e.calls()
		e.c.Get(t.Context(), "app/db")
		if e.calls() == before {
			t.Fatalf("failure %d: the read past the last backoff made no call", i+1)
		}
		calls := e.calls()
		e.clock.Advance(d/2 - time.Millisecond)
		e.c.Get(t.Context(), "app/db")
		if got := e.calls(); got != calls {
			t.Fatalf("failure %d: a read %v later made a call, want none before %v", i+1, d/2-time.Millisecond, d/2)
		}
		e.clock.Advance(d/2 + time.Millisecond) // past the ceiling, whatever the jitter drew
	}
}

// gatedAPI is the real client with a gate on GetSecretValue, so a test can hold a fetch
// in flight and show who waits for it.
type gatedAPI struct {
	rotasafe.API
	gate    chan struct{}
	entered chan struct{}
}

func (g *gatedAPI) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	g.entered <- struct{}{}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.API.GetSecretValue(ctx, in, optFns...)
}

func TestRefreshAheadInBackground(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := &gatedAPI{API: e.client, gate: make(chan struct{}, 1), entered: make(chan struct{}, 10)}
	clk := fixture.NewClock()
	c := cache.New(api, cache.WithClock(clk.Now), cache.WithRand(fixedRand{}), cache.WithTTL(time.Minute), cache.WithRefreshAhead(0.2))
	defer c.Close()
	v1 := e.create(t, "app/db", "pw-1")

	api.gate <- struct{}{} // let the first fetch through
	if v, err := c.Get(t.Context(), "app/db"); err != nil || v.ID != v1 {
		t.Fatalf("first Get: %v, %v", v, err)
	}
	<-api.entered
	v2 := e.put(t, "app/db", "pw-2")

	clk.Advance(47 * time.Second) // before the last 20 %: a plain hit
	c.Get(t.Context(), "app/db")
	select {
	case <-api.entered:
		t.Fatal("a fetch started before the refresh-ahead window")
	default:
	}

	clk.Advance(time.Second) // 48 s: in the window
	for range 100 {
		// The fetch is held at the gate; the readers get v1 at once.
		if v, err := c.Get(t.Context(), "app/db"); err != nil || v.ID != v1 {
			t.Fatalf("Get in the window: got %v, %v; want %s without waiting", v, err, v1)
		}
	}
	<-api.entered // exactly one background fetch started
	select {
	case <-api.entered:
		t.Fatal("a second background fetch started")
	default:
	}
	api.gate <- struct{}{}
	eventually(t, "the background refresh", func() bool { return c.Stats().Refreshes == 1 })
	if v, err := c.Get(t.Context(), "app/db"); err != nil || v.ID != v2 {
		t.Fatalf("after the refresh: got %v, %v; want %s", v, err, v2)
	}
	// The refreshed entry is fresh for 80 % of a TTL from the refresh (48 s of 60 s).
	clk.Advance(47 * time.Second)
	c.Get(t.Context(), "app/db")
	select {
	case <-api.entered:
		t.Fatal("a fetch started before the new refresh-ahead window")
	default:
	}
	if st := c.Stats(); st.Misses != 1 {
		t.Errorf("Misses: got %d, want 1 (only the first read waited)", st.Misses)
	}
}

func TestFetchTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cache.WithFetchTimeout(50*time.Millisecond))
	e.create(t, "app/db", "pw-1")
	e.srv.Faults().Latency("GetSecretValue", time.Hour)
	_, err := e.c.Get(t.Context(), "app/db")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the fetch's own deadline", err)
	}
}

// TestServerGoneServesStale: a real network error (the server is gone: connection refused)
// is bridged like a 5xx.
func TestServerGoneServesStale(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v1 := e.create(t, "app/db", "pw-1")
	e.mustGet(t, "app/db")
	e.srv.Close()
	e.clock.Advance(time.Minute)
	if v := e.mustGet(t, "app/db"); v.ID != v1 {
		t.Fatalf("server gone: got %v, want stale %s", v, v1)
	}
	e.clock.Advance(11 * time.Minute)
	_, err := e.c.Get(t.Context(), "app/db")
	if err == nil || !strings.Contains(err.Error(), "beyond MaxStale") {
		t.Fatalf("past MaxStale: got %v, want an error naming MaxStale", err)
	}
	if st := e.c.Stats(); st.StaleServed != 1 {
		t.Errorf("StaleServed: got %d, want 1", st.StaleServed)
	}
}
