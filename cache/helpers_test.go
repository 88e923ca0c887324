package cache_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/smtest"
)

// fixedRand makes every jitter exact: Float64 returns 0.5, so a TTL is exactly its setting
// and a backoff exactly 3/4 of its ceiling.
type fixedRand struct{}

func (fixedRand) Uint64() uint64 { return 1 << 52 } // math/rand/v2 turns this into Float64 0.5

// noBackoff makes the SDK retry at once.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// fastRetry is the SDK's standard retryer with 2 attempts, no backoff and no retry quota, so
// retry-exhausted errors wrap the service's error and tests take no time.
func fastRetry(o *secretsmanager.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 2
		so.Backoff = noBackoff{}
		so.RateLimiter = ratelimit.None
	})
}

// env is one test's server, client, clock, logs and cache.
type env struct {
	srv    *smtest.Server
	client *secretsmanager.Client
	clock  *fixture.Clock
	logs   *fixture.Buffer
	c      *cache.Cache
}

// newEnv starts smtest and a cache on the fake clock with exact jitter, TTL 1 min, refresh
// ahead off and MaxStale 10 min, unless opts say otherwise.
func newEnv(t testing.TB, opts ...cache.Option) *env {
	t.Helper()
	e := &env{srv: smtest.New(t), clock: fixture.NewClock(), logs: &fixture.Buffer{}}
	e.client = e.srv.Client(fastRetry)
	base := []cache.Option{
		cache.WithClock(e.clock.Now),
		cache.WithRand(fixedRand{}),
		cache.WithTTL(time.Minute),
		cache.WithRefreshAhead(0),
		cache.WithMaxStale(10 * time.Minute),
		cache.WithLogger(slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}
	e.c = cache.New(e.client, append(base, opts...)...)
	t.Cleanup(func() {
		e.c.Close()
		if s := e.logs.String(); strings.Contains(s, "pw-") {
			t.Errorf("a secret value reached the log:\n%s", s)
		}
	})
	return e
}

// create makes a secret holding value and returns its version ID.
func (e *env) create(t testing.TB, name, value string) string {
	t.Helper()
	out, err := e.client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: &name, SecretString: &value})
	if err != nil {
		t.Fatalf("CreateSecret %s: %v", name, err)
	}
	return *out.VersionId
}

// put stores value with stages (AWSCURRENT when none) and returns the new version ID.
func (e *env) put(t testing.TB, id, value string, stages ...string) string {
	t.Helper()
	out, err := e.client.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: &id, SecretString: &value, VersionStages: stages})
	if err != nil {
		t.Fatalf("PutSecretValue %s: %v", id, err)
	}
	return *out.VersionId
}

// calls returns the GetSecretValue requests smtest has seen.
func (e *env) calls() int { return e.srv.Calls("GetSecretValue") }

// mustGet reads AWSCURRENT through the cache and fails the test on error.
func (e *env) mustGet(t testing.TB, id string) rotasafe.Version {
	t.Helper()
	v, err := e.c.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	return v
}

// getAtOnce runs n Gets of id at once and fails the test for each that errs or, unless want is
// "", returns another value.
func (e *env) getAtOnce(t testing.TB, n int, id, want string) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if v, err := e.c.Get(t.Context(), id); err != nil || (want != "" && v.SecretString != want) {
				t.Errorf("Get %s: got %v, %v", id, v, err)
			}
		})
	}
	wg.Wait()
}

// noSecret fails the test when err's text holds a secret value.
func noSecret(t testing.TB, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "pw-") {
		t.Errorf("error holds a secret value: %v", err)
	}
}

// eventually polls cond until it holds, failing the test after a minute (a hang guard). It
// waits for background work to finish, it does not time it.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func createInput(name, value string) *secretsmanager.CreateSecretInput {
	return &secretsmanager.CreateSecretInput{Name: &name, SecretString: &value}
}
