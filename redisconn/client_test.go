//lint:file-ignore SA1019 rotate.Rotate, deprecated for Handler.Rotate, stays callable; these callers drive one Handler through the API of their test server.

package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/redissecret"
	"github.com/rotasafe/rotasafe/internal/testserver/redistest"
	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/redisacl"
)

// appClient returns a cache-backed client for secret id whose connections live briefly, so
// that new logins happen all the time.
func appClient(e *redistest.Env, id string, copts []cache.Option, opts ...Option) (*redis.Client, *Credentials, *cache.Cache) {
	e.TB.Helper()
	c := cache.New(e.SM.Client(), copts...)
	e.TB.Cleanup(func() { c.Close() })
	rdb, p := newClient(NewCredentials(c, id, opts...), &redis.Options{
		PoolSize:        4,
		ConnMaxLifetime: 15 * time.Millisecond,
		DisableIdentity: true,
	})
	e.TB.Cleanup(func() { rdb.Close() })
	return rdb, p, c
}

func TestClientSurvivesTwentyRotations(t *testing.T) {
	t.Parallel()
	e := redistest.NewEnv(t)
	id, user, pw0 := e.AppSecret()
	rdb, creds, c := appClient(e, id, nil)
	h := rotate.NewHandler(e.API, redisacl.Strategy())

	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		ops      atomic.Int64
		failures atomic.Int64
		firstErr sync.Once
		errText  string
	)
	for g := range 8 {
		wg.Go(func() {
			key := fmt.Sprintf("app:counter:%d", g)
			for !stop.Load() {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				var err error
				if g%2 == 0 {
					err = rdb.Incr(ctx, key).Err()
				} else { // a transaction: the pipeline hook
					_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.Incr(ctx, key)
						p.Get(ctx, key)
						return nil
					})
				}
				cancel()
				ops.Add(1)
				if err != nil {
					failures.Add(1)
					firstErr.Do(func() { errText = err.Error() })
				}
				time.Sleep(time.Millisecond)
			}
		})
	}

	// At least 20 rotations, and on until logins with removed passwords were rejected and
	// recovered (or the test would prove nothing): how many rotations that takes depends on
	// the machine's speed, what the test asserts does not.
	older := []string{pw0}
	rotations := 0
	for rotations < 20 || (creds.Stats().Rejected.Total() == 0 && rotations < 500) {
		rotations++
		if _, err := rotate.Rotate(t.Context(), e.API, id, h); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("rotation %d: %v", rotations, err)
		}
		older = append(older, e.CheckClean(id, user, older))
		time.Sleep(25 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()

	st := creds.Stats()
	reads := c.Stats().Reads
	t.Logf("%d commands, %d rotations; %+v", ops.Load(), rotations, st)
	t.Logf("per rotation: %.2f GetSecretValue (%.2f AWSPENDING, %.2f AWSCURRENT, %.2f AWSPREVIOUS), %.2f rejected logins, %.2f fallbacks",
		float64(reads.Total())/float64(rotations), float64(reads.Pending)/float64(rotations), float64(reads.Current)/float64(rotations),
		float64(reads.Previous)/float64(rotations), float64(st.Rejected.Total())/float64(rotations), float64(st.Fallbacks.Total())/float64(rotations))
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d commands failed, first: %s", n, ops.Load(), errText)
	}
	for _, pw := range older {
		if strings.Contains(errText, pw) {
			t.Fatal("an error holds a password")
		}
	}
	// The test must have made logins with removed passwords and recovered from them, or it
	// proves nothing.
	if st.Rejected.Total() == 0 || st.Connects == 0 || st.Failures != 0 {
		t.Errorf("got %+v, want rejected logins, all recovered", st)
	}
}

// stopAfterSet is a strategy whose testSecret fails, so a rotation stops after setSecret.
type stopAfterSet struct{ rotate.Strategy }

func (stopAfterSet) Test(context.Context, *rotate.StepContext) error {
	return errors.New("stopped on purpose")
}

func TestClientFallsBackToPending(t *testing.T) {
	t.Parallel()
	e := redistest.NewEnv(t)
	id, user, _ := e.AppSecret()
	// A rotation stops after setSecret, and then something takes AWSCURRENT's password away:
	// only AWSPENDING's logs in.
	if _, err := rotate.Rotate(t.Context(), e.API, id, rotate.NewHandler(e.API, stopAfterSet{redisacl.Strategy()})); err == nil {
		t.Fatal("the rotation did not stop")
	}
	pend, pendID, ok := e.PasswordOf(id, rotasafe.StagePending)
	if !ok {
		t.Fatal("no AWSPENDING version")
	}
	if err := e.Server.Admin(t).Do(t.Context(), "ACL", "SETUSER", user, "resetpass", redissecret.PasswordHash(pend)).Err(); err != nil {
		t.Fatal(err)
	}

	rdb, creds, _ := appClient(e, id, nil)
	if err := rdb.Set(t.Context(), "app:x", "1", 0).Err(); err != nil {
		t.Fatalf("got %v, want the command to run with AWSPENDING's password", err)
	}
	st := creds.Stats()
	if st.Fallbacks.Pending != 1 || st.Connects != 1 {
		t.Fatalf("got %+v, want one command recovered by a fallback to AWSPENDING", st)
	}
	if v, err := creds.walk.Choose(t.Context()); err != nil || v.ID != pendID {
		t.Fatalf("new connections would log in with %v, %v; want AWSPENDING %s kept", v.ID, err, pendID)
	}
	// New connections log in with AWSPENDING at once.
	time.Sleep(30 * time.Millisecond) // past the connections' lifetime
	for range 3 {
		if err := rdb.Get(t.Context(), "app:x").Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := creds.Stats().Rejected; got != st.Rejected {
		t.Errorf("rejected logins went from %+v to %+v, want no more once AWSPENDING is kept", st.Rejected, got)
	}
}

func TestClientGivesUpWhenEveryVersionIsRejected(t *testing.T) {
	t.Parallel()
	e := redistest.NewEnv(t)
	id, user, pw := e.AppSecret()
	e.Server.CreateUser(t, user, "a password no secret holds")
	p := login.DefaultPolicy()
	p.MaxElapsed = 300 * time.Millisecond
	rdb, creds, _ := appClient(e, id, []cache.Option{cache.WithMinRefreshInterval(10 * time.Millisecond)}, WithRetry(p))

	err := rdb.Ping(t.Context()).Err()
	if !redis.IsAuthError(err) {
		t.Fatalf("got %v, want Redis's authentication error", err)
	}
	if strings.Contains(err.Error(), pw) {
		t.Fatal("the error holds the password")
	}
	// One round reads AWSPENDING (absent), AWSCURRENT (the same version) and AWSPREVIOUS
	// (absent) after the rejection, however fast the machine.
	if st := creds.Stats(); st.Failures != 1 || st.Rereads.Total() < 3 {
		t.Errorf("got %+v, want one failed command after a round of rereads", st)
	}
}

func TestClientReportsAMissingSecret(t *testing.T) {
	t.Parallel()
	e := redistest.NewEnv(t)
	rdb, _, _ := appClient(e, "no-such-secret", nil)
	err := rdb.Ping(t.Context()).Err()
	if err == nil || !strings.Contains(err.Error(), "no-such-secret") {
		t.Fatalf("got %v, want an error naming the secret", err)
	}
}
