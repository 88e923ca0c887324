//lint:file-ignore SA1019 rotate.Rotate, deprecated for Handler.Rotate, stays callable; these callers drive one Handler through the API of their test server.

package reliability

import (
	"context"
	"database/sql"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/retry"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// leakMarkers name the code whose goroutines must all be gone after Close: the module's
// application-side packages, pgx and database/sql's pool.
var leakMarkers = []string{
	"github.com/rotasafe/rotasafe/cache.",
	"github.com/rotasafe/rotasafe/sqlconn.",
	"github.com/rotasafe/rotasafe/retry.",
	"github.com/jackc/pgx/",
	"database/sql.(*DB).",
}

// appGoroutines returns the stacks of goroutines running code named by leakMarkers, leaving
// out the test's own goroutine.
func appGoroutines() []string {
	return fixture.Goroutines(func(g string) bool {
		return slices.ContainsFunc(leakMarkers, func(m string) bool { return strings.Contains(g, m) })
	})
}

// settle waits up to hangGuard for cond, polling.
func settle(cond func() bool) bool {
	for deadline := time.Now().Add(hangGuard); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestNoGoroutineLeaks works a cache and a *sql.DB over a sqlconn connector hard (a rotation
// with fallbacks, refresh-ahead, an outage with background refreshes failing, cancelled
// connects, a fetch still in flight at Close), then closes the DB and the cache: every
// goroutine of cache, sqlconn, retry, pgx and database/sql is gone, and runtime.NumGoroutine
// is back to where it was before.
func TestNoGoroutineLeaks(t *testing.T) {
	pg := pgtest.New(t)
	tr := &http.Transport{}
	e := newEnv(t, pg)
	e.api = e.sm.Client(func(o *secretsmanager.Options) {
		fixture.NoRetry(o)
		o.HTTPClient = &http.Client{Transport: tr}
	})
	id, _ := e.newDBSecret(e.master())
	ctx := t.Context()
	rot := scenarios[0].handler(nil)
	if n := len(appGoroutines()); n != 0 {
		t.Fatalf("%d goroutines of the application side run before the test:\n%s", n, strings.Join(appGoroutines(), "\n\n"))
	}
	before := runtime.NumGoroutine()

	// The fetch timeout is longer than the test: only Close can end the fetch in flight below.
	c := cache.New(e.api, cache.WithTTL(100*time.Millisecond), cache.WithRefreshAhead(0.5), cache.WithMaxStale(time.Hour),
		cache.WithWarm(id), cache.WithWarmWindow(50*time.Millisecond), cache.WithFetchTimeout(time.Hour))
	conn := sqlconn.NewPostgres(c, id, sqlconn.WithParams(map[string]string{"sslmode": "disable"}),
		sqlconn.WithRetry(retry.Policy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, MaxElapsed: hangGuard}))
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				qctx, cancel := context.WithTimeout(ctx, hangGuard)
				var one int
				if err := db.QueryRowContext(qctx, "SELECT 1").Scan(&one); err != nil {
					t.Errorf("query: %v", err)
				}
				cancel()
			}
		})
	}
	if _, err := rotate.Rotate(ctx, e.api, id, rot); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// Connects given up at once, and connects during an outage.
	for range 5 {
		qctx, cancel := context.WithTimeout(ctx, time.Millisecond)
		db.PingContext(qctx)
		cancel()
	}
	e.sm.Faults().Outage(true)
	for range 5 {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second) // it may fail: only its goroutines matter
		var one int
		db.QueryRowContext(qctx, "SELECT 1").Scan(&one)
		cancel()
		time.Sleep(30 * time.Millisecond)
	}
	e.sm.Faults().Outage(false)
	// A fetch of another secret still in flight when the cache closes: Secrets Manager has
	// the request and holds its answer for longer than the test runs.
	e.sm.Faults().Latency("GetSecretValue", time.Hour)
	calls := e.sm.Calls("GetSecretValue")
	inFlight := make(chan error, 1)
	go func() { _, err := c.Get(context.Background(), "other"); inFlight <- err }()
	if !settle(func() bool { return e.sm.Calls("GetSecretValue") > calls }) {
		t.Fatal("the Get of another secret never reached Secrets Manager")
	}
	if len(appGoroutines()) == 0 {
		t.Fatal("no goroutine of the application side runs while the cache and DB are open: the check cannot see leaks")
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-inFlight:
		if err == nil {
			t.Fatal("a Get in flight at Close returned no error")
		}
	case <-time.After(hangGuard):
		t.Fatalf("a Get in flight at Close did not return within %v", hangGuard)
	}
	e.sm.Faults().Latency("GetSecretValue", 0)
	if !settle(func() bool { return len(appGoroutines()) == 0 }) {
		t.Fatalf("goroutines left %v after db.Close and cache.Close:\n%s", hangGuard, strings.Join(appGoroutines(), "\n\n"))
	}
	tr.CloseIdleConnections()
	if !settle(func() bool { return runtime.NumGoroutine() <= before }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("NumGoroutine %d, %d before the cache and DB were opened:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
	}
}
