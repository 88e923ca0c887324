package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-secretsmanager-caching-go/v2/secretcache"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/retry"
	"github.com/rotasafe/rotasafe/smtest"
)

func getInput(id string) *secretsmanager.GetSecretValueInput {
	return &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}
}

// errAuth is what the stand-in database answers to a password it does not take (28P01).
var errAuth = errors.New("password authentication failed")

// fakeDB accepts one secret value at a time: the stand-in for a database whose password a
// rotation just changed. The herd counts Secrets Manager calls, so no real database is needed.
type fakeDB struct {
	mu    sync.Mutex
	value string
}

func (d *fakeDB) set(v string) { d.mu.Lock(); d.value = v; d.mu.Unlock() }

func (d *fakeDB) login(v string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v != d.value {
		return errAuth
	}
	return nil
}

// valueN is the secret's value after the n-th rotation.
func valueN(n int) string {
	return strings.Replace(secretJSON, "not-a-secret-0123456789", fmt.Sprintf("not-a-secret-%023d", n), 1)
}

// herdImpl is one way of connecting after a failed login. prepare runs before the rotation
// (it warms the cache with the value the database then takes); connect logs in once,
// refreshing as the implementation does.
type herdImpl struct {
	name string
	slow bool // needs seconds per herd: run once per K
	new  func(b *testing.B, client *secretsmanager.Client, db *fakeDB) (connect func(context.Context) error, close func())
}

var herdImpls = []herdImpl{
	{name: "rotasafe", new: herdRotasafe},
	{name: "perfailure", new: herdPerFailure},
	{name: "cachinggo", slow: true, new: herdCachingGo},
}

const herdID = "bench/herd"

// herdRotasafe connects as sqlconn does: through the credential walk sqlconn, redisconn
// and pgxpoolconn share, reading from a cache.
func herdRotasafe(b *testing.B, client *secretsmanager.Client, db *fakeDB) (func(context.Context) error, func()) {
	c := cache.New(client, cache.WithLogger(slog.New(slog.DiscardHandler)))
	if _, err := c.Get(context.Background(), herdID); err != nil {
		b.Fatal(err)
	}
	w := login.New(c, herdID, login.WithClient("herd"), login.WithLogger(nil), login.WithRetry(retry.Policy{MaxAttempts: 1}))
	return func(ctx context.Context) error {
		_, err := w.Login(ctx, func(_ context.Context, v rotasafe.Version) error {
			return login.Rejected(db.login(v.SecretString))
		})
		return err
	}, func() { c.Close() }
}

// herdPerFailure is how the JDBC wrapper and the AWS Advanced Go Wrapper behave: a cached
// value, and on each failed login one GetSecretValue of AWSCURRENT, then a retry.
func herdPerFailure(b *testing.B, client *secretsmanager.Client, db *fakeDB) (func(context.Context) error, func()) {
	var mu sync.Mutex
	out, err := client.GetSecretValue(context.Background(), getInput(herdID))
	if err != nil {
		b.Fatal(err)
	}
	cached := aws.ToString(out.SecretString)
	return func(ctx context.Context) error {
		mu.Lock()
		v := cached
		mu.Unlock()
		if db.login(v) == nil {
			return nil
		}
		out, err := client.GetSecretValue(ctx, getInput(herdID))
		if err != nil {
			return err
		}
		v = aws.ToString(out.SecretString)
		mu.Lock()
		cached = v
		mu.Unlock()
		return db.login(v)
	}, func() {}
}

// herdCachingGo is the connector a Go user can build today on aws-secretsmanager-caching-go
// v2.2.0: GetSecretString, and on a failed login RefreshNow (which sleeps 2.5-5 s first),
// then GetSecretString again.
func herdCachingGo(b *testing.B, client *secretsmanager.Client, db *fakeDB) (func(context.Context) error, func()) {
	c, err := secretcache.New(func(c *secretcache.Cache) { c.Client = client })
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.GetSecretString(herdID); err != nil {
		b.Fatal(err)
	}
	return func(ctx context.Context) error {
		v, err := c.GetSecretStringWithContext(ctx, herdID)
		if err != nil {
			return err
		}
		if db.login(v) == nil {
			return nil
		}
		c.RefreshNowWithContext(ctx, herdID)
		if v, err = c.GetSecretStringWithContext(ctx, herdID); err != nil {
			return err
		}
		return db.login(v)
	}, func() {}
}

// BenchmarkHerd: K connects start at once with credentials a rotation just made stale (the
// database takes only the new AWSCURRENT). It reports the Secrets Manager calls (GetSecretValue
// plus DescribeSecret, counted by smtest) per herd; the goal for rotasafe is 1 whatever K.
// Each iteration starts from a fresh cache holding the old version. impl=cachinggo sleeps
// 2.5-5 s in RefreshNow, so it runs one herd per K unless -benchtime asks for more.
func BenchmarkHerd(b *testing.B) {
	for _, k := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			for _, im := range herdImpls {
				b.Run("impl="+im.name, func(b *testing.B) {
					if im.slow && testing.Short() {
						b.Skip("RefreshNow sleeps 2.5-5 s; skipped in -short")
					}
					b.ReportAllocs()
					sm, client := newSM(b, herdID)
					db := &fakeDB{}
					var calls, failed int
					for i := 0; b.Loop(); i++ {
						b.StopTimer()
						db.set(valueN(i))
						putCurrent(b, client, herdID, valueN(i))
						connect, closeFn := im.new(b, client, db)
						putCurrent(b, client, herdID, valueN(i+1)) // the rotation
						db.set(valueN(i + 1))
						sm.ResetCalls()
						b.StartTimer()
						failed += herd(connect, k)
						b.StopTimer()
						calls += smCalls(sm)
						closeFn()
						b.StartTimer()
					}
					b.ReportMetric(float64(calls)/float64(b.N), "calls/herd")
					b.ReportMetric(float64(failed)/float64(b.N), "failed/herd")
				})
			}
		})
	}
}

// herd runs k connects at once and returns how many failed.
func herd(connect func(context.Context) error, k int) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	start := make(chan struct{})
	for range k {
		wg.Go(func() {
			<-start
			if err := connect(ctx); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	return failed
}

// smCalls is the read API calls smtest saw: GetSecretValue plus DescribeSecret.
func smCalls(sm *smtest.Server) int {
	return sm.Calls("GetSecretValue") + sm.Calls("DescribeSecret")
}

var _ rotasafe.API = (*secretsmanager.Client)(nil)
