//lint:file-ignore SA1019 rotate.Rotate, deprecated for Handler.Rotate, stays callable; these callers drive one Handler through the API of their test server.

package reliability

import (
	"context"
	"database/sql"
	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
	"github.com/rotasafe/rotasafe/internal/testserver/natstest"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/internal/testserver/redistest"
	"github.com/rotasafe/rotasafe/notice"
	"github.com/rotasafe/rotasafe/notice/natsnotice"
	"github.com/rotasafe/rotasafe/notice/redisnotice"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// Announcing ahead (issue 23): 8 instances log in for every query while a single-user
// rotation runs 3 times (20 with ROTASAFE_RELIABILITY_N=full, as .ci/run sets), announced over a real redis-server and again over nats-server, on
// PostgreSQL and on MariaDB with max_password_errors=2. The rotator announces the pending
// version with a lead and brackets the password change with password-changing and
// password-changed; the instances hold new logins across it. The servers count the rejected
// logins, the rotator's included: none. No query fails, and the account is never blocked.

// aheadLead and aheadSettle are the rotator's lead and settle in these runs: 8 instances
// need little lead, and the settle covers a login under way on a loaded machine.
const (
	aheadLead   = 300 * time.Millisecond
	aheadSettle = 300 * time.Millisecond
)

// aheadEngine is a database the fleet runs against.
type aheadEngine struct {
	name string
	// setup starts the server and returns an env on it, a secret of one user, a connector
	// maker, and a counter of the logins the server rejected (all users, since start).
	setup func(t *testing.T) (e *env, id string, connect func(c *cache.Cache, log sqlconn.Option) *sqlconn.Connector, denied func() int)
}

var aheadEngines = []aheadEngine{
	{"postgres", func(t *testing.T) (*env, string, func(*cache.Cache, sqlconn.Option) *sqlconn.Connector, func() int) {
		pg := pgtest.New(t)
		e := newEnv(t, pg)
		id, _ := e.newDBSecret("")
		connect := func(c *cache.Cache, log sqlconn.Option) *sqlconn.Connector {
			return sqlconn.NewPostgres(c, id, log, sqlconn.WithParams(map[string]string{"sslmode": "disable"}))
		}
		return e, id, connect, func() int { return pgFailedLogins(t, e) }
	}},
	{"mariadb", func(t *testing.T) (*env, string, func(*cache.Cache, sqlconn.Option) *sqlconn.Connector, func() int) {
		my := mysqltest.New(t, mysqltest.WithSetting("max_password_errors", "2"))
		e := newEngineEnv(t, myEngine{my})
		id, _ := e.newDBSecret("")
		connect := func(c *cache.Cache, log sqlconn.Option) *sqlconn.Connector {
			return sqlconn.NewMySQL(c, id, log)
		}
		admin, err := sql.Open("mysql", my.DSN())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Close() })
		return e, id, connect, func() int {
			var name string
			var n int
			if err := admin.QueryRowContext(t.Context(), "SHOW GLOBAL STATUS LIKE 'Access_denied_errors'").Scan(&name, &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
	}},
}

// aheadTransport is how notices travel.
type aheadTransport struct {
	name string
	// start starts the server and returns a function that makes a transport on it.
	start func(t *testing.T) func() notice.Transport
}

var aheadTransports = []aheadTransport{
	{"redis", func(t *testing.T) func() notice.Transport {
		rs := redistest.New(t)
		return func() notice.Transport {
			c := redis.NewClient(&redis.Options{Addr: rs.Addr, Username: rs.AdminUser, Password: rs.AdminPassword, DisableIdentity: true})
			t.Cleanup(func() { c.Close() })
			return redisnotice.New(c)
		}
	}},
	{"nats", func(t *testing.T) func() notice.Transport {
		ns := natstest.New(t)
		return func() notice.Transport {
			nc, err := nats.Connect(ns.URL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			return natsnotice.New(nc)
		}
	}},
}

// TestNoticesAhead runs the fleet above for each engine and transport; an integer
// ROTASAFE_RELIABILITY_N sets the number of rotations.
func TestNoticesAhead(t *testing.T) {
	long(t)
	rotations := fixture.Count(t, 20, 3)
	for _, eng := range aheadEngines {
		for _, tr := range aheadTransports {
			t.Run(eng.name+"/"+tr.name, func(t *testing.T) {
				runAhead(t, eng, tr, rotations)
			})
		}
	}
}

// runAhead runs the fleet through rotations announced ahead.
func runAhead(t *testing.T, eng aheadEngine, tr aheadTransport, rotations int) {
	e, id, connect, denied := eng.setup(t)
	newTransport := tr.start(t)
	var logs testserver.Buffer
	log := debugLogger(&logs)
	pub := newTransport()
	h := rotate.NewHandler(e.api, rotate.PostgresSingleUser(rotate.WithTLSMode(rotate.TLSDisable)),
		rotate.WithLogger(log), rotate.WithNotices(pub), rotate.WithNoticeLead(aheadLead), rotate.WithNoticeSettle(aheadSettle))
	if eng.name == "mariadb" {
		h = rotate.NewHandler(e.api, rotate.MySQLSingleUser(rotate.WithTLSMode(rotate.TLSDisable)),
			rotate.WithLogger(log), rotate.WithNotices(pub), rotate.WithNoticeLead(aheadLead), rotate.WithNoticeSettle(aheadSettle))
	}

	type instance struct {
		c    *cache.Cache
		conn *sqlconn.Connector
		db   *sql.DB
		ok   atomic.Int64
	}
	fleet := make([]*instance, fleetSize)
	for i := range fleet {
		c := cache.New(e.sm.Client(), cache.WithLogger(log), cache.WithNotices(newTransport()))
		t.Cleanup(func() { c.Close() })
		conn := connect(c, sqlconn.WithLogger(log))
		fleet[i] = &instance{c: c, conn: conn, db: openDB(t, sql.OpenDB(conn))}
		if err := fleet[i].db.PingContext(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// Every cache listens before the first rotation: a notice about another secret reaches
	// each of them (and is ignored).
	probe := notice.Notice{SecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:probe", VersionID: "probe", Kind: notice.Finished}
	fixture.WaitFor(t, "every cache to listen", hangGuard, func() bool {
		if err := pub.Publish(t.Context(), probe); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		return !slices.ContainsFunc(fleet, func(in *instance) bool { return in.c.Stats().Notices == 0 })
	})

	// The load: each instance queries back to back, logging in afresh each time.
	var (
		mu         sync.Mutex
		firstErr   error
		queries    atomic.Int64
		errs       atomic.Int64
		rotating   atomic.Bool
		quiet, rot []time.Duration
	)
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, in := range fleet {
		wg.Go(func() {
			for ctx.Err() == nil {
				during := rotating.Load()
				start := time.Now()
				qctx, cancel := context.WithTimeout(ctx, hangGuard)
				var one int
				err := in.db.QueryRowContext(qctx, "SELECT 1").Scan(&one)
				cancel()
				took := time.Since(start)
				queries.Add(1)
				switch {
				case err == nil:
					in.ok.Add(1)
					mu.Lock()
					if during || rotating.Load() {
						rot = append(rot, took)
					} else {
						quiet = append(quiet, took)
					}
					mu.Unlock()
				case ctx.Err() == nil:
					errs.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	// Some queries without rotations first, for the p99 to compare with.
	fixture.WaitFor(t, "queries without rotations", hangGuard, func() bool {
		return !slices.ContainsFunc(fleet, func(in *instance) bool { return in.ok.Load() < 20 })
	})
	before := denied()
	for i := range rotations {
		start := time.Now()
		rotating.Store(true)
		if _, err := rotate.Rotate(t.Context(), e.api, id, h); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		rotating.Store(false)
		// Every instance logs in twice after the rotation before the next one.
		marks := make([]int64, len(fleet))
		for j, in := range fleet {
			marks[j] = in.ok.Load()
		}
		fixture.WaitFor(t, "logins after the rotation", hangGuard, func() bool {
			return errs.Load() > 0 || !slices.ContainsFunc(fleet, func(in *instance) bool { return in.ok.Load() < marks[slices.Index(fleet, in)]+2 })
		})
		// The cache reads at most one announced version a second per secret after a burst
		// of three: one rotation a second keeps within it.
		time.Sleep(time.Until(start.Add(time.Second)))
	}
	stop()
	wg.Wait()
	rejectedByServer := denied() - before

	var rejected int64
	var holds uint64
	var calls uint64
	for _, in := range fleet {
		rejected += in.conn.Stats().Rejected.Total()
		st := in.c.Stats()
		holds += st.Holds
		calls += st.APICalls
	}
	p99 := func(d []time.Duration) time.Duration {
		if len(d) == 0 {
			return 0
		}
		slices.Sort(d)
		return d[min(len(d)-1, len(d)*99/100)]
	}
	t.Logf("%d rotations, %d queries, %d errors; rejected logins: %d counted by the server (the rotator's included), %d by the clients; "+
		"%d holds; %.2f GetSecretValue calls per instance per rotation (warm-up included); query p99 %v during rotations (%d queries), %v without (%d)",
		rotations, queries.Load(), errs.Load(), rejectedByServer, rejected, holds, float64(calls)/float64(fleetSize*rotations),
		p99(rot).Round(100*time.Microsecond), len(rot), p99(quiet).Round(100*time.Microsecond), len(quiet))
	if firstErr != nil {
		t.Errorf("%d queries failed; the first: %v", errs.Load(), firstErr)
	}
	if rejectedByServer != 0 {
		t.Errorf("the server rejected %d logins, want 0", rejectedByServer)
	}
	if s := logs.String(); strings.Contains(s, "Error 4150") || strings.Contains(s, "too many credential errors") {
		t.Error("the account was blocked (error 4150 in the logs)")
	}
	// The account still logs in, after all of it.
	cur, _ := e.fetch(id, rotasafe.StageCurrent)
	if err := e.login(cur); err != nil {
		t.Errorf("AWSCURRENT does not log in after the rotations: %v", err)
	}
}

// pgFailedLogins counts the failed password logins in the cluster's log. A failed login of a
// canary role is made and waited for first, so that every line written before it is there.
func pgFailedLogins(t *testing.T, e *env) int {
	t.Helper()
	canary := e.dbSecret("canary_"+strconv.FormatInt(time.Now().UnixNano(), 36), "wrong", "")
	if e.login(canary) == nil {
		t.Fatal("the canary logged in")
	}
	failed := regexp.MustCompile(`password authentication failed for user "app`)
	var n int
	fixture.WaitFor(t, "the canary's failed login in the server log", hangGuard, func() bool {
		log, err := e.pg.ReadLog()
		if err != nil {
			t.Fatal(err)
		}
		n = len(failed.FindAllString(log, -1))
		return strings.Contains(log, canary.Username)
	})
	return n
}
