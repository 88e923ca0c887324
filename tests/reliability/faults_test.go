//lint:file-ignore SA1019 rotate.Rotate, deprecated for Handler.Rotate, stays callable; these callers drive one Handler through the API of their test server.

package reliability

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/retry"
	"github.com/rotasafe/rotasafe/rotate"
)

// app is an application's view of a secret: a cache and the engine's client, which logs in
// anew for every query.
type app struct {
	c     *cache.Cache
	ping  func(context.Context) error // logs in and runs a command
	stats func() any                  // the client's rotasafe.LoginStats
}

func (e *env) newApp(t testing.TB, id string, copts ...cache.Option) *app {
	t.Helper()
	return e.newAppOn(t, e.api, id, copts...)
}

// newAppOn is newApp reading Secrets Manager through api. Its client retries for up to
// hangGuard: a test asserts that a query succeeds, not how soon.
func (e *env) newAppOn(t testing.TB, api rotasafe.API, id string, copts ...cache.Option) *app {
	t.Helper()
	c := cache.New(api, copts...)
	t.Cleanup(func() { c.Close() })
	ping, stats := e.db.(server).app(t, c, id, clientOptions{
		policy: retry.Policy{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond, MaxElapsed: hangGuard}})
	return &app{c: c, ping: ping, stats: stats}
}

// logins is how many logins the app's client tried.
func (a *app) logins() int64 { return int64(a.stats().(rotasafe.LoginStats).Logins) }

// query logs in and runs a query within d.
func (a *app) query(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return a.ping(ctx)
}

// retryingClient is a client of e's server whose retryer has no retry quota, so a storm of
// throttling does not exhaust it.
func (e *env) retryingClient() *secretsmanager.Client {
	return e.sm.Client(func(o *secretsmanager.Options) {
		o.Retryer = awsretry.NewStandard(func(so *awsretry.StandardOptions) {
			so.RateLimiter = ratelimit.None
			so.MaxAttempts = 10
			so.MaxBackoff = 200 * time.Millisecond
		})
	})
}

// TestOutageShorterThanMaxStale takes Secrets Manager down for 58 s of the cache's clock
// (moved by the test), MaxStale being 1 min and the TTL 100 ms: every query is served, the
// cache tried to fetch and served the version it held.
func TestOutageShorterThanMaxStale(t *testing.T) {
	eachSQLDatabase(t, func(t *testing.T, _ database, srv server) {
		e := newEngineEnv(t, srv)
		id, _ := e.newDBSecret("")
		clk := fixture.NewClock()
		a := e.newApp(t, id, cache.WithClock(clk.Now), cache.WithTTL(100*time.Millisecond), cache.WithMaxStale(time.Minute), cache.WithRefreshAhead(0))
		ctx := t.Context()
		if err := a.query(ctx, hangGuard); err != nil {
			t.Fatal(err)
		}
		e.sm.Faults().Outage(true)
		const queries = 29
		for i := range queries {
			clk.Advance(2 * time.Second)
			if err := a.query(ctx, hangGuard); err != nil {
				t.Fatalf("query %d, %v into the outage: %v", i+1, time.Duration(i+1)*2*time.Second, err)
			}
		}
		e.sm.Faults().Outage(false)
		if st := a.c.Stats(); st.StaleServed == 0 || st.Errors == 0 {
			t.Fatalf("the outage was not seen: %+v", st)
		}
		t.Logf("%d queries during a 58 s outage (cache clock) with TTL 100ms, all served; cache %+v", queries, a.c.Stats())
	})
}

// TestOutageLongerThanMaxStale: past MaxStale (on the cache's clock) a query fails with an
// error naming the secret and the cause; once Secrets Manager is back, queries succeed again
// after the cache's backoff.
func TestOutageLongerThanMaxStale(t *testing.T) {
	eachSQLDatabase(t, func(t *testing.T, _ database, srv server) {
		e := newEngineEnv(t, srv)
		id, _ := e.newDBSecret("")
		clk := fixture.NewClock()
		a := e.newApp(t, id, cache.WithClock(clk.Now), cache.WithTTL(100*time.Millisecond), cache.WithMaxStale(300*time.Millisecond), cache.WithRefreshAhead(0))
		ctx := t.Context()
		if err := a.query(ctx, hangGuard); err != nil {
			t.Fatal(err)
		}
		e.sm.Faults().Outage(true)
		clk.Advance(time.Second) // about 900ms past expiry, 600ms past MaxStale
		err := a.query(ctx, hangGuard)
		if err == nil {
			t.Fatal("a query 600ms past MaxStale into the outage succeeded")
		}
		if msg := err.Error(); !strings.Contains(msg, "ServiceUnavailable") || !strings.Contains(msg, id) {
			t.Fatalf("the error does not name the secret and the cause (ServiceUnavailable): %v", err)
		}
		if _, ok := errors.AsType[*rotasafe.ConnectError](err); !ok {
			t.Fatalf("got %T, want a *rotasafe.ConnectError: %v", err, err)
		}
		e.sm.Faults().Outage(false)
		// The cache backs off after a failed fetch (at most 30 s); a query each second of its clock.
		for i := 1; ; i++ {
			clk.Advance(time.Second)
			err := a.query(ctx, hangGuard)
			if err == nil {
				t.Logf("recovered %d s (cache clock) after the outage ended", i)
				break
			}
			if i == 120 {
				t.Fatalf("no recovery 2 min (cache clock) after the outage ended: %v", err)
			}
		}
	})
}

// TestThrottlingStorm runs 16 app goroutines with a short TTL through 2 rotations (4 with
// ROTASAFE_RELIABILITY_N=full, as .ci/run sets) while every operation is throttled to 20
// requests a second: no query fails. The rotations are paced by the queries: each starts
// once the app has run 16 queries since the one before.
func TestThrottlingStorm(t *testing.T) {
	long(t)
	eachSQLDatabase(t, func(t *testing.T, d database, srv server) {
		eachScenario(t, d, srv, func(t *testing.T, sc scenario, e *env, id string) {
			a := e.newApp(t, id, cache.WithTTL(200*time.Millisecond), cache.WithMaxStale(time.Hour), cache.WithMinRefreshInterval(50*time.Millisecond))
			ctx := t.Context()
			if err := a.query(ctx, hangGuard); err != nil {
				t.Fatal(err)
			}
			e.sm.Faults().RateLimit("", 20, 5)
			rot := e.retryingClient()
			h := sc.handler(nil)
			var mu sync.Mutex
			var failures []error
			var queries atomic.Int64
			var slowest time.Duration
			stop := runWorkers(16, func() {
				start := time.Now()
				err := a.query(ctx, hangGuard)
				took := time.Since(start)
				mu.Lock()
				slowest = max(slowest, took)
				if err != nil {
					failures = append(failures, err)
				}
				mu.Unlock()
				queries.Add(1)
			})
			// Pace by events: 16 more queries (and at least 300ms, for the TTL to lapse)
			// before each rotation and after the last.
			settled := func(what string) {
				want := queries.Load() + 16
				time.Sleep(300 * time.Millisecond)
				fixture.WaitFor(t, what, hangGuard, func() bool { return queries.Load() >= want })
			}
			rotations := 0
			for i := range fixture.Count(t, 4, 2) {
				settled(fmt.Sprintf("16 queries before rotation %d", i+1))
				if _, err := rotate.Rotate(ctx, rot, id, h); err != nil {
					t.Errorf("rotation under throttling: %v", err)
				}
				rotations++
			}
			settled("16 queries after the last rotation")
			stop()
			e.sm.Faults().Clear()
			t.Logf("%d queries (slowest %v), %d failed, %d rotations, %d API calls; cache %+v; connector %+v",
				queries.Load(), slowest, len(failures), rotations, e.sm.Calls(""), a.c.Stats(), a.stats())
			for i, err := range failures {
				if i == 3 {
					break
				}
				t.Errorf("query failed under throttling: %v", err)
			}
			e.checkFinished(id, "after the storm")
		})
	})
}

// heldAPI passes every call to the real client, but holds each GetSecretValue until release
// is closed (or the call's context ends): a latency spike exactly as long as the test wants.
type heldAPI struct {
	rotasafe.API
	release chan struct{}
}

func (h *heldAPI) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return h.API.GetSecretValue(ctx, in, optFns...)
}

// TestLatencySpike holds Secrets Manager's answer while an app with a cold cache queries with
// a 100ms deadline: the query returns context.DeadlineExceeded without waiting for the answer,
// and the fetch it started survives it and fills the cache for every later query.
func TestLatencySpike(t *testing.T) {
	eachSQLDatabase(t, func(t *testing.T, _ database, srv server) {
		e := newEngineEnv(t, srv)
		id, _ := e.newDBSecret("")
		api := &heldAPI{API: e.api, release: make(chan struct{})}
		a := e.newAppOn(t, api, id, cache.WithTTL(time.Hour), cache.WithFetchTimeout(time.Hour))
		ctx := t.Context()
		done := make(chan error, 1)
		go func() { done <- a.query(ctx, 100*time.Millisecond) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(hangGuard):
			t.Fatalf("a query with a 100ms deadline did not return in %v while Secrets Manager held its answer", hangGuard)
		}
		if err == nil {
			t.Fatal("a query with a 100ms deadline succeeded while Secrets Manager held its answer")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want context.DeadlineExceeded in the chain", err)
		}
		// The shared fetch the first caller started is not cancelled with it: once the answer
		// comes, the cache holds the secret, and every query hits it.
		close(api.release)
		for i := range 21 {
			if err := a.query(ctx, hangGuard); err != nil {
				t.Fatalf("query %d after the spike: %v", i+1, err)
			}
		}
		if n := e.sm.Calls("GetSecretValue"); n != 1 {
			t.Fatalf("%d GetSecretValue calls for 22 queries, want 1: the fetch the first query started", n)
		}
	})
}

// TestDatabaseRestartMidRotation stops the database before each step that uses it, and
// restarts it at random moments during a rotation: the rotation fails cleanly, the invariant
// holds, the scheduler's retry finishes it and AWSCURRENT logs in.
func TestDatabaseRestartMidRotation(t *testing.T) {
	long(t)
	eachSQLDatabase(t, func(t *testing.T, d database, srv server) {
		stop, start := srv.outage()
		eachScenario(t, d, srv, func(t *testing.T, sc scenario, e *env, id string) {
			ctx := t.Context()
			var stopBefore string
			fn := e.registerRotation(sc, func(ctx context.Context, ev rotasafe.Event, handle rotationFunc) error {
				if ev.Step == stopBefore {
					if err := stop(ctx); err != nil {
						return err
					}
				}
				return handle(ctx, ev)
			})
			for _, step := range []string{rotasafe.StepSetSecret, rotasafe.StepTestSecret} {
				stopBefore = step
				err := e.rotateSecret(ctx, id, fn, "")
				stopBefore = ""
				if se, ok := errors.AsType[*rotate.StepError](err); !ok || se.Step != step {
					t.Fatalf("database stopped before %s: got %v, want a *rotate.StepError at %s", step, err, step)
				}
				if err := start(ctx); err != nil {
					t.Fatal(err)
				}
				what := "database stopped before " + step
				e.checkRerun(sc, id, what, func() error { _, err := e.sm.TriggerRotation(ctx, id); return err })
			}
			for i, d := range []time.Duration{0, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond} {
				done := make(chan error, 1)
				go func() { done <- e.rotateSecret(ctx, id, fn, "") }()
				time.Sleep(d)
				if err := stop(ctx); err != nil {
					t.Fatal(err)
				}
				if err := start(ctx); err != nil {
					t.Fatal(err)
				}
				err := <-done
				what := fmt.Sprintf("restart %d after %v (rotation error: %v)", i+1, d, err)
				e.checkRerun(sc, id, what, func() error { _, err := e.sm.TriggerRotation(ctx, id); return err })
			}
		})
	})
}

// TestRacingRotations starts two rotations of one secret at once through RotateSecret with
// different tokens: one wins, the other is refused or fails cleanly, the labels stay
// consistent and the winner logs in. 2 races per strategy by default;
// ROTASAFE_RELIABILITY_N=full (.ci/run) runs 5, an integer that many.
func TestRacingRotations(t *testing.T) {
	long(t)
	eachSQLDatabase(t, func(t *testing.T, d database, srv server) {
		rounds := fixture.Count(t, 5, 2)
		eachScenario(t, d, srv, func(t *testing.T, sc scenario, e *env, id string) {
			ctx := t.Context()
			fn := e.registerRotation(sc, nil)
			wins, cleanFailures := 0, 0
			for i := range rounds {
				tokens := [2]string{fmt.Sprintf("race-a-%032d", i), fmt.Sprintf("race-b-%032d", i)}
				_, errs := race(func(j int) (string, error) { return "", e.rotateSecret(ctx, id, fn, tokens[j]) })
				what := fmt.Sprintf("RotateSecret race %d (errors %v, %v)", i+1, errs[0], errs[1])
				l := e.checkLabels(id, what)
				if l.RotationInProgress() {
					e.checkInterrupted(sc, id, what)
					if _, err := e.sm.TriggerRotation(ctx, id); err != nil {
						t.Fatalf("%s: rerun: %v", what, err)
					}
				}
				e.checkFinished(id, what)
				cur, _ := e.labels(id).VersionOf(rotasafe.StageCurrent)
				if cur == tokens[0] || cur == tokens[1] {
					wins++
				}
				if errs[0] != nil || errs[1] != nil {
					cleanFailures++
				}
			}
			t.Logf("%d RotateSecret races: %d won by one of the two tokens, %d with a refused or failed rival", rounds, wins, cleanFailures)
		})
	})
}

// TestRacingInProcessRotations runs two rotate.Rotate calls on one secret at once, each with
// its own token: one wins, the other fails cleanly (or finishes the winner's rotation), the
// labels stay consistent and AWSCURRENT logs in. Before Rotate serialised rotations of a
// secret, the loser's setSecret could change the password after the winner's testSecret.
// 3 races per strategy by default; ROTASAFE_RELIABILITY_N=full (.ci/run) runs 10, an integer
// that many.
func TestRacingInProcessRotations(t *testing.T) {
	long(t)
	eachSQLDatabase(t, func(t *testing.T, d database, srv server) {
		rounds := fixture.Count(t, 10, 3)
		eachScenario(t, d, srv, func(t *testing.T, sc scenario, e *env, id string) {
			ctx := t.Context()
			for i := range rounds {
				got, errs := race(func(int) (string, error) { return rotate.Rotate(ctx, e.api, id, sc.handler(nil)) })
				what := fmt.Sprintf("Rotate race %d (versions %s, %s; errors %v, %v)", i+1, got[0], got[1], errs[0], errs[1])
				if errs[0] != nil && errs[1] != nil {
					e.checkInterrupted(sc, id, what)
					if _, err := rotate.Rotate(ctx, e.api, id, sc.handler(nil)); err != nil {
						t.Fatalf("%s: rerun: %v", what, err)
					}
				}
				e.checkFinished(id, what)
				cur, _ := e.labels(id).VersionOf(rotasafe.StageCurrent)
				for j := range 2 {
					if errs[j] == nil && got[j] != cur && got[1-j] != cur {
						t.Fatalf("%s: rotation %d succeeded with version %s but AWSCURRENT is %s", what, j, got[j], cur)
					}
				}
			}
		})
	})
}

// TestDatabaseRefusesConnections makes a running server refuse the app's user as a server at
// its connection limit does (PostgreSQL: CONNECTION LIMIT 0, SQLSTATE 53300; MariaDB:
// MAX_USER_CONNECTIONS -1, error 1226) until a query has been refused: the
// query waits and succeeds when the refusal ends, a rotation attempted during it fails cleanly,
// and the rerun finishes.
func TestDatabaseRefusesConnections(t *testing.T) {
	eachSQLDatabase(t, func(t *testing.T, d database, srv server) {
		eachScenario(t, d, srv, func(t *testing.T, sc scenario, e *env, id string) {
			ctx := t.Context()
			a := e.newApp(t, id)
			if err := a.query(ctx, hangGuard); err != nil {
				t.Fatal(err)
			}
			user, _ := e.fetch(id, rotasafe.StageCurrent)
			refuse := func(on bool) {
				t.Helper()
				if err := srv.(refuser).refuse(ctx, on, user.Username, user.Username+"_clone"); err != nil {
					t.Fatal(err)
				}
			}
			refuse(true)
			h := sc.handler(nil)
			if _, err := rotate.Rotate(ctx, e.api, id, h); err == nil && sc.env == "SINGLE_USER" {
				t.Fatal("a single-user rotation succeeded while the user may not connect")
			}
			e.checkLabels(id, "rotation while refused")
			// The refusal ends once the query has tried to log in: that login was refused.
			logins := a.logins()
			done := make(chan error, 1)
			go func() { done <- a.query(ctx, hangGuard) }()
			fixture.WaitFor(t, "the query's first login", hangGuard, func() bool { return a.logins() > logins })
			refuse(false)
			if err := <-done; err != nil {
				t.Fatalf("a query started while connections were refused failed after they were allowed again: %v", err)
			}
			if _, err := rotate.Rotate(ctx, e.api, id, h); err != nil {
				t.Fatalf("rerun: %v", err)
			}
			e.checkFinished(id, "after the refusal")
			if err := a.query(ctx, hangGuard); err != nil {
				t.Fatal(err)
			}
			t.Logf("client %+v", a.stats())
		})
	})
}
