//lint:file-ignore SA1019 rotate.Rotate, deprecated for Handler.Rotate, stays callable; these callers drive one Handler through the API of their test server.

package reliability

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/internal/testserver/redistest"
	"github.com/rotasafe/rotasafe/notice"
	"github.com/rotasafe/rotasafe/notice/redisnotice"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// The fleet of the notices issue: application instances in one process, each with a cache,
// a connector and a *sql.DB of its own, logging in afresh for every query.
const fleetSize = 8

// fleetMode says how the fleet hears of rotations.
type fleetMode struct {
	name    string
	notices bool // caches subscribe through redis-server, the handler publishes
	stopAt  int  // the transport is stopped before this rotation; -1: never
	// wrap, when set, stands between the handler and the transport: it may drop, repeat,
	// reorder or add notices.
	wrap func(notice.Publisher) notice.Publisher
}

// fleetRun is what one run measured.
type fleetRun struct {
	pace      time.Duration // the wait between an instance's queries
	took      time.Duration // from the first rotation to the end of the last one's settling
	rejected  []int64       // rejected logins per rotation, summed over the fleet
	queries   int64
	appErrors int64
	apiCalls  uint64               // GetSecretValue calls of the fleet's caches
	notices   uint64               // notices the caches received
	byStage   rotasafe.StageCounts // rejected logins by the label the version held when read
}

func (r fleetRun) sum(from, to int) (n int64) {
	for _, x := range r.rejected[from:to] {
		n += x
	}
	return n
}

// TestNoticesFleet is the done-when test of rotation notices: 8 instances query PostgreSQL
// through 6 single-user rotations (20 with ROTASAFE_RELIABILITY_N=full, as .ci/run sets; an
// integer sets the count), once hearing of rotations only by failing (pull), once
// with notices over a real redis-server, once with redis-server stopped halfway. No query
// fails in any run; with notices the fleet's rejected logins per rotation drop from about
// one per instance to at most one in all, and once the transport is gone they go back to
// the pull figure.
func TestNoticesFleet(t *testing.T) {
	// Apart from the others: its own servers; run beside them so that the package stays
	// within go test's ten minutes on a loaded 2-core machine.
	t.Parallel()
	rotations := fixture.Count(t, 20, 6)
	pg := pgtest.New(t)
	runs := map[string]fleetRun{}
	for _, m := range []fleetMode{
		{name: "pull", stopAt: -1},
		{name: "notices", notices: true, stopAt: -1},
		{name: "notices_stopped_halfway", notices: true, stopAt: rotations / 2},
	} {
		t.Run(m.name, func(t *testing.T) {
			r := runFleet(t, pg, m, rotations)
			runs[m.name] = r
			t.Logf("%s: a query every %v, %d queries, %d application errors, rejected logins per rotation %v (total %d, %.2f per rotation; by label %+v), %d GetSecretValue calls (%.2f per instance per rotation), %d notices received",
				m.name, r.pace.Round(time.Millisecond), r.queries, r.appErrors, r.rejected, r.sum(0, rotations), float64(r.sum(0, rotations))/float64(rotations), r.byStage,
				r.apiCalls, float64(r.apiCalls)/float64(fleetSize*rotations), r.notices)
			if r.appErrors != 0 {
				t.Errorf("%d queries failed, want 0", r.appErrors)
			}
		})
	}
	pull, on, half := runs["pull"], runs["notices"], runs["notices_stopped_halfway"]
	if pull.rejected == nil || on.rejected == nil || half.rejected == nil {
		return // a run failed
	}
	// The bounds are ratios to the pull run of the same test: how many logins are in flight
	// when a password changes depends on the machine's speed, and a login already in flight
	// then is rejected whatever notices do. The per-rotation figures are logged above (and in
	// RELIABILITY.md): at most one per rotation on an unloaded machine.
	if got, pulled := on.sum(0, rotations), pull.sum(0, rotations); got*4 > pulled {
		t.Errorf("with notices: %d rejected logins, want at most a quarter of the %d without", got, pulled)
	}
	n := rotations / 2
	if got, pulled := half.sum(0, n), pull.sum(0, n); got*4 > pulled {
		t.Errorf("before the transport stopped: %d rejected logins in %d rotations, want at most a quarter of the pull run's %d", got, n, pulled)
	}
	// Once the transport is gone, the pull path alone: the rejected logins of the second
	// half are what the pull run had in as many rotations, give or take half.
	after, pulled := half.sum(n, rotations), pull.sum(0, rotations)*int64(rotations-n)/int64(rotations)
	if after*2 < pulled || after > pulled*2 {
		t.Errorf("after the transport stopped: %d rejected logins in %d rotations, want about the pull run's %d", after, rotations-n, pulled)
	}
}

// fleetPace is fleetPaceLogins times the median time of a query (a login and SELECT 1) on
// db, measured now, within [10 ms, 2 s]. ROTASAFE_FLEET_PACE (a duration) sets it instead,
// for runs by hand with denser logins.
func fleetPace(t *testing.T, db *sql.DB) time.Duration {
	if s := os.Getenv("ROTASAFE_FLEET_PACE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("ROTASAFE_FLEET_PACE=%q: %v", s, err)
		}
		return d
	}
	var took []time.Duration
	for range 21 {
		start := time.Now()
		if _, err := db.ExecContext(t.Context(), "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	return min(max(fleetPaceLogins*took[len(took)/2], 10*time.Millisecond), 2*time.Second)
}

// fleetPaceLogins is how many logins' time an instance waits between queries.
const fleetPaceLogins = 30

// runFleet starts the fleet, rotates the secret rotations times, and reports.
func runFleet(t *testing.T, pg *pgtest.Cluster, m fleetMode, rotations int) fleetRun {
	e := newEnv(t, pg)
	id, _ := e.newDBSecret("")
	var logs testserver.Buffer
	log := debugLogger(&logs)

	var rs *redistest.Server
	client := func() *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: rs.Addr, Username: rs.AdminUser, Password: rs.AdminPassword, DisableIdentity: true, MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		return c
	}
	hopts := []rotate.Option{rotate.WithLogger(log)}
	if m.notices {
		rs = redistest.New(t)
		var pub notice.Publisher = redisnotice.New(client(), redisnotice.WithLogger(log))
		if m.wrap != nil {
			pub = m.wrap(pub)
		}
		hopts = append(hopts, rotate.WithNotices(pub))
	}
	h := scenarios[0].handler(e.api, hopts...)

	type instance struct {
		c    *cache.Cache
		conn *sqlconn.Connector
		db   *sql.DB
		ok   atomic.Int64 // queries that worked
	}
	fleet := make([]*instance, fleetSize)
	for i := range fleet {
		copts := []cache.Option{cache.WithLogger(log)}
		if m.notices {
			copts = append(copts, cache.WithNotices(redisnotice.New(client(), redisnotice.WithLogger(log))))
		}
		c := cache.New(e.sm.Client(), copts...)
		t.Cleanup(func() { c.Close() })
		conn := sqlconn.NewPostgres(c, id, sqlconn.WithLogger(log), sqlconn.WithParams(map[string]string{"sslmode": "disable"}))
		fleet[i] = &instance{c: c, conn: conn, db: openDB(t, sql.OpenDB(conn))}
		if err := fleet[i].db.PingContext(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if m.notices {
		// Every cache is subscribed before the first rotation.
		admin := rs.Admin(t)
		deadline := time.Now().Add(30 * time.Second)
		for {
			n, err := admin.PubSubNumSub(t.Context(), redisnotice.DefaultChannel).Result()
			if err == nil && n[redisnotice.DefaultChannel] == fleetSize {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v subscribers, want %d", n, fleetSize)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// Pace the queries to the speed of a login here: a query every fleetPace logins' time.
	// A login that picked the old password before the notice arrived and reaches the
	// database after the change is rejected whatever the notice does, so the rejected
	// logins with notices are a matter of how much of its time an instance spends logging
	// in; the pull figure is one per instance per rotation at any pace.
	pace := fleetPace(t, fleet[0].db)
	var r fleetRun
	r.pace = pace
	var mu sync.Mutex
	var firstErr error
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, in := range fleet {
		wg.Go(func() {
			for ctx.Err() == nil {
				qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				var one int
				err := in.db.QueryRowContext(qctx, "SELECT 1").Scan(&one)
				cancel()
				atomic.AddInt64(&r.queries, 1)
				switch {
				case err == nil:
					in.ok.Add(1)
				case ctx.Err() == nil:
					atomic.AddInt64(&r.appErrors, 1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
				time.Sleep(pace)
			}
		})
	}
	rejected := func() (n int64) {
		for _, in := range fleet {
			n += in.conn.Stats().Rejected.Total()
		}
		return n
	}
	var passwords []string
	began := time.Now()
	for i := range rotations {
		if i == m.stopAt {
			rs.Admin(t).Do(t.Context(), "SHUTDOWN", "NOSAVE") // the server exits; the reply is lost
		}
		start, before := time.Now(), rejected()
		if _, err := rotate.Rotate(t.Context(), e.api, id, h); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		// Settle: every instance has logged in twice since, so the rotation's rejected
		// logins are all counted.
		marks := make([]int64, len(fleet))
		for j, in := range fleet {
			marks[j] = in.ok.Load()
		}
		for j, in := range fleet {
			for in.ok.Load() < marks[j]+2 {
				if r.appErrors > 0 || time.Since(start) > hangGuard {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		r.rejected = append(r.rejected, rejected()-before)
		if s, ok := e.fetch(id, rotasafe.StageCurrent); ok {
			passwords = append(passwords, s.Password)
		}
		// One rotation a second at most: the cache's reads for notices are bounded per
		// secret to one per MinRefreshInterval (1 s) after a burst.
		time.Sleep(time.Until(start.Add(time.Second)))
	}
	r.took = time.Since(began)
	stop()
	wg.Wait()
	if firstErr != nil {
		t.Errorf("first application error: %v", firstErr)
	}
	for _, in := range fleet {
		st := in.c.Stats()
		r.apiCalls += st.APICalls
		r.notices += st.Notices
		rs := in.conn.Stats().Rejected
		r.byStage.Current += rs.Current
		r.byStage.Pending += rs.Pending
		r.byStage.Previous += rs.Previous
		r.byStage.Other += rs.Other
	}
	if m.notices && r.notices == 0 {
		t.Error("no cache received a notice")
	}
	out := logs.String()
	for _, pw := range passwords {
		for _, n := range fixture.Needles(pw) {
			if strings.Contains(out, n) {
				t.Fatalf("a password reached the logs (%d KB)", len(out)/1024)
			}
		}
	}
	if m.stopAt >= 0 && !strings.Contains(out, "could not publish the rotation notice") {
		t.Error("the stopped transport's failed notices were not logged")
	}
	return r
}

// publisherFunc makes a function a notice.Publisher.
type publisherFunc func(ctx context.Context, n notice.Notice) error

func (f publisherFunc) Publish(ctx context.Context, n notice.Notice) error { return f(ctx, n) }

// TestNoticesChaos runs the fleet with notices that are lost, repeated, reordered and forged
// on their way through a real redis-server: no query fails, the rejected logins stay within
// what the pull path costs (forged ones within one more per instance), and so do the reads.
// 3 rotations per mode by default, 6 with ROTASAFE_RELIABILITY_N=full (.ci/run); the bounds
// are per rotation.
func TestNoticesChaos(t *testing.T) {
	long(t)
	// Apart from the others: its own servers; run beside them so that the package stays
	// within go test's ten minutes on a loaded 2-core machine.
	t.Parallel()
	rotations := fixture.Count(t, 6, 3)
	pg := pgtest.New(t)
	for _, m := range []fleetMode{
		{name: "lost", notices: true, stopAt: -1, wrap: func(p notice.Publisher) notice.Publisher {
			i := 0
			return publisherFunc(func(ctx context.Context, n notice.Notice) error {
				i++
				if i%3 != 0 && i%5 != 0 { // keeps only some notices, of every kind in turn
					return nil
				}
				return p.Publish(ctx, n)
			})
		}},
		{name: "repeated", notices: true, stopAt: -1, wrap: func(p notice.Publisher) notice.Publisher {
			return publisherFunc(func(ctx context.Context, n notice.Notice) error {
				for range 3 {
					if err := p.Publish(ctx, n); err != nil {
						return err
					}
				}
				return nil
			})
		}},
		{name: "reordered", notices: true, stopAt: -1, wrap: func(p notice.Publisher) notice.Publisher {
			// A rotation's notices go out together after finishSecret, newest first, and
			// the previous rotation's once more after them.
			var held, last []notice.Notice
			return publisherFunc(func(ctx context.Context, n notice.Notice) error {
				held = append(held, n)
				if n.Kind != notice.Finished {
					return nil
				}
				slices.Reverse(held)
				for _, h := range append(held, last...) {
					if err := p.Publish(ctx, h); err != nil {
						return err
					}
				}
				last, held = held, nil
				return nil
			})
		}},
		{name: "forged", notices: true, stopAt: -1, wrap: func(p notice.Publisher) notice.Publisher {
			// Besides each real notice: versions that do not exist, the previous rotation's
			// version as changed again, and the pending version as changed before setSecret.
			var prev string
			i := 0
			return publisherFunc(func(ctx context.Context, n notice.Notice) error {
				i++
				forged := []notice.Notice{
					{SecretARN: n.SecretARN, VersionID: fmt.Sprintf("forged-%04d-0000-4000-8000-000000000000", i), Kind: notice.PasswordChanged},
					{SecretARN: n.SecretARN, VersionID: fmt.Sprintf("forged-%04d-1111-4000-8000-000000000000", i), Kind: notice.Finished},
				}
				if prev != "" && prev != n.VersionID {
					forged = append(forged, notice.Notice{SecretARN: n.SecretARN, VersionID: prev, Kind: notice.PasswordChanged})
				}
				if n.Kind == notice.PendingStored {
					forged = append(forged, notice.Notice{SecretARN: n.SecretARN, VersionID: n.VersionID, Kind: notice.PasswordChanged})
				}
				if n.Kind == notice.Finished {
					prev = n.VersionID
				}
				for _, f := range append(forged, n) {
					if err := p.Publish(ctx, f); err != nil {
						return err
					}
				}
				return nil
			})
		}},
	} {
		t.Run(m.name, func(t *testing.T) {
			r := runFleet(t, pg, m, rotations)
			total := r.sum(0, rotations)
			t.Logf("%s: a query every %v, %d queries, %d application errors, rejected logins per rotation %v (total %d), %d GetSecretValue calls (%.2f per instance per rotation), %d notices received",
				m.name, r.pace.Round(time.Millisecond), r.queries, r.appErrors, r.rejected, total, r.apiCalls, float64(r.apiCalls)/float64(fleetSize*rotations), r.notices)
			if r.appErrors != 0 {
				t.Errorf("%d queries failed, want 0", r.appErrors)
			}
			bound := int64(fleetSize * rotations) // the pull path's figure
			if m.name == "forged" {
				bound *= 2 // an early "password changed" costs each instance one more, once
			}
			if total > bound {
				t.Errorf("%d rejected logins in %d rotations, want at most %d", total, rotations, bound)
			}
			// Reads: what a rotation costs by pull or notice (two), one more for a rejected
			// preferred version, and what notices may cause on top: three at once, then one
			// per MinRefreshInterval (1 s).
			per := float64(r.apiCalls) / float64(fleetSize*rotations)
			if bound := 3 + (3+r.took.Seconds())/float64(rotations); per > bound {
				t.Errorf("%.2f GetSecretValue calls per instance per rotation, want at most %.2f", per, bound)
			}
		})
	}
}
