package benchmarks

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-secretsmanager-caching-go/v2/secretcache"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/pgxpoolconn"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/smtest"
	"github.com/rotasafe/rotasafe/sqlconn"
	"github.com/rotasafe/rotasafe/tests/floor"
)

// The PostgreSQL cluster is started once, on first use by a benchmark, and stopped by TestMain,
// so that `go test -run . -bench '^$'` starts none.
var (
	pgOnce sync.Once
	pgC    *pgtest.Cluster
	pgErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pgC != nil {
		pgC.Close()
	}
	os.Exit(code)
}

// pgEnv is the shared cluster, a fresh Secrets Manager and a login role whose secret is stored
// under id. It skips without the PostgreSQL server binaries (fails with
// ROTASAFE_REQUIRE_INTEGRATION=1).
type pgEnv struct {
	pg     *pgtest.Cluster
	sm     *smtest.Server
	client *secretsmanager.Client
	id     string
	secret rotasafe.DBSecret
}

func newPGEnv(b *testing.B, prefix string) *pgEnv {
	b.Helper()
	pgOnce.Do(func() { pgC, pgErr = pgtest.Start(context.Background()) })
	testserver.SkipOrFail(b, pgErr)
	sm, client := smtest.New(b), (*secretsmanager.Client)(nil)
	client = sm.Client()
	e := &pgEnv{pg: pgC, sm: sm, client: client, id: pgtest.UniqueName(prefix)}
	user := pgtest.UniqueName("app")
	pw := pgtest.UniqueName("pw") // a throw-away password of a throw-away role
	if err := pgC.CreateRole(context.Background(), user, pw); err != nil {
		b.Fatal(err)
	}
	e.secret = e.dbSecret(user, pw)
	e.store(b, e.id, e.secret)
	return e
}

func (e *pgEnv) dbSecret(user, pw string) rotasafe.DBSecret {
	return rotasafe.DBSecret{Engine: "postgres", Host: e.pg.Host(), Port: e.pg.Port(), Username: user, Password: pw, DBName: "postgres"}
}

// store creates a secret named id holding s and returns its ARN.
func (e *pgEnv) store(b *testing.B, id string, s rotasafe.DBSecret) string {
	b.Helper()
	js, err := s.MarshalSecret()
	if err != nil {
		b.Fatal(err)
	}
	out, err := e.client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(id), SecretString: aws.String(string(js))})
	if err != nil {
		b.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// noTLS are the connection parameters for the throw-away cluster, which has no certificate.
var noTLS = map[string]string{"sslmode": "disable"}

// pgxConnector is plain pgx stdlib with the secret's credentials: the peer of sqlconn.
func pgxConnector(s rotasafe.DBSecret) (driver.Connector, error) {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(s.Host, strconv.Itoa(s.PortOrDefault())),
		Path: "/" + s.DBNameOrDefault(), RawQuery: "sslmode=disable"}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, err
	}
	cfg.User, cfg.Password = s.Username, s.Password
	return stdlib.GetConnector(*cfg), nil
}

// warmConnect connects once with c and closes the connection, so that what happens once
// (reading the secret into the cache, parsing it, the first login of a version, the
// server's own warm-up) is not part of what a benchmark measures per connect.
func warmConnect(b *testing.B, c driver.Connector) {
	b.Helper()
	conn, err := c.Connect(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	conn.Close()
}

// BenchmarkConnect opens and closes one connection: sqlconn (credentials from a warm cache)
// vs pgx's stdlib connector with the same credentials. Goal: median ratio <= 1.05.
//
// Each connector has connected once before either is measured (warmConnect).
func BenchmarkConnect(b *testing.B) {
	e := newPGEnv(b, "bench/connect")
	c := cache.New(e.client, cache.WithLogger(nil))
	b.Cleanup(func() { c.Close() })
	ours := sqlconn.NewPostgres(c, e.id, sqlconn.WithParams(noTLS))
	peer, err := pgxConnector(e.secret)
	if err != nil {
		b.Fatal(err)
	}
	benchConnect(b, connectorImpl{"rotasafe", ours}, connectorImpl{"pgx", peer})
}

// connectorImpl is a connector a benchmark measures, under the name of its sub-benchmark.
type connectorImpl struct {
	name string
	c    driver.Connector
}

// benchConnect runs a sub-benchmark impl=name for each of impls that opens and closes one
// connection per iteration, once every impl has connected once (warmConnect).
func benchConnect(b *testing.B, impls ...connectorImpl) {
	b.Helper()
	for _, im := range impls {
		warmConnect(b, im.c)
	}
	for _, im := range inOrder(impls) {
		b.Run("impl="+im.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				conn, err := im.c.Connect(ctx)
				if err != nil {
					b.Fatal(err)
				}
				conn.Close()
			}
		})
	}
}

// signalStrategy tells, through set, when Set has changed the password on the database and
// which version holds the new one.
type signalStrategy struct {
	rotate.Strategy
	set chan passwordSet
}

type passwordSet struct {
	at      time.Time
	version string // the rotation's new version
}

func newSignalStrategy() signalStrategy {
	return signalStrategy{rotate.PostgresSingleUser(rotate.WithTLSMode(rotate.TLSDisable)), make(chan passwordSet, 1)}
}

func (s signalStrategy) Set(ctx context.Context, sc *rotate.StepContext) error {
	err := s.Strategy.Set(ctx, sc)
	if err == nil {
		select {
		case s.set <- passwordSet{time.Now(), sc.Pending.ID}:
		default:
		}
	}
	return err
}

// recoverImpl builds a client that logs in through its own connector; each rotation gets a
// fresh one, warmed before the rotation starts, as a client that read the secret earlier.
type recoverImpl struct {
	name string
	new  func(b *testing.B, e *pgEnv) (db *sql.DB, close func())
}

var recoverImpls = []recoverImpl{
	{"rotasafe", func(b *testing.B, e *pgEnv) (*sql.DB, func()) {
		c := cache.New(e.client, cache.WithLogger(nil))
		db := sql.OpenDB(sqlconn.NewPostgres(c, e.id, sqlconn.WithParams(noTLS)))
		return db, func() { db.Close(); c.Close() }
	}},
	{"cachinggo", func(b *testing.B, e *pgEnv) (*sql.DB, func()) {
		c, err := secretcache.New(func(c *secretcache.Cache) { c.Client = e.client })
		if err != nil {
			b.Fatal(err)
		}
		db := sql.OpenDB(&refreshNowConnector{c: c, id: e.id})
		return db, func() { db.Close() }
	}},
}

// refreshNowConnector is the connector a Go user can build today on caching-go v2.2.0 the
// way aws-secretsmanager-jdbc does on caching-java: read AWSCURRENT from the cache, and on an
// authentication failure (28P01, 28000) call RefreshNow and try again, 6 attempts in all.
type refreshNowConnector struct {
	c  *secretcache.Cache
	id string
}

func (r *refreshNowConnector) Connect(ctx context.Context) (driver.Conn, error) {
	var err error
	for attempt := range 6 {
		if attempt > 0 {
			r.c.RefreshNowWithContext(ctx, r.id)
		}
		var s string
		if s, err = r.c.GetSecretStringWithContext(ctx, r.id); err != nil {
			return nil, err
		}
		var sec rotasafe.DBSecret
		if sec, err = rotasafe.ParseDBSecret([]byte(s)); err != nil {
			return nil, err
		}
		var conn driver.Connector
		if conn, err = pgxConnector(sec); err != nil {
			return nil, err
		}
		var dc driver.Conn
		if dc, err = conn.Connect(ctx); err == nil {
			return dc, nil
		}
		if pe, ok := errors.AsType[*pgconn.PgError](err); !ok || (pe.Code != "28P01" && pe.Code != "28000") {
			return nil, err
		}
	}
	return nil, err
}

func (r *refreshNowConnector) Driver() driver.Driver { return stdlib.GetDefaultDriver() }

// BenchmarkRecover measures, per single-user rotation (rotate.Rotate with
// rotate.PostgresSingleUser against the real cluster), the time from the moment setSecret has
// changed the password on the database to the first successful SELECT of a client that then
// opens a new connection with the credentials it cached before the rotation. One iteration is
// one rotation; it reports p50, p99 and max over the iterations (run it with -benchtime 100x
// for rotasafe; caching-go's RefreshNow sleeps 2.5-5 s, so a few rotations show it).
//
// Each iteration also times, untimed by the benchmark, the floor (tests/floor): one
// rejected login, one GetSecretValue, one login and SELECT 1, by a client that does nothing
// else. It runs once during a second rotation, timed as the client is from the password
// change (reading the rotation's new version by its ID, while testSecret and finishSecret
// run as they do for the client), and once with no rotation going on, as the demo times it.
// It reports the floors' quantiles, and p50, p90 and p99 as multiples of the same quantile of
// the floor during rotations.
func BenchmarkRecover(b *testing.B) {
	for _, im := range recoverImpls {
		b.Run("scenario=single/impl="+im.name, func(b *testing.B) {
			e := newPGEnv(b, "bench/recover")
			strat := newSignalStrategy()
			h := rotate.NewHandler(e.client, strat, rotate.WithLogger(nil))
			ctx := context.Background()
			var samples, floors, idle []time.Duration
			// floorDuring times the floor during a rotation, with the credentials cached before it.
			// It is timed as the client is, from the password change.
			floorDuring := func() {
				stale := e.current(b)
				floors = append(floors, rotateAndWait(b, e, h, strat, func(ps passwordSet) error {
					_, err := floor.Time(ctx, e.client, e.id, ps.version, "", stale, noTLS)
					return err
				}))
			}
			i := 0
			for b.Loop() {
				b.StopTimer()
				// The floor's rotation comes first every other iteration, so that neither
				// measurement always follows the other.
				if i++; i%2 == 0 {
					floorDuring()
				}
				db, closeFn := im.new(b, e)
				db.SetMaxIdleConns(-1) // every query logs in anew
				if err := db.PingContext(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				d := rotateAndWait(b, e, h, strat, func(passwordSet) error {
					qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					var one int
					return db.QueryRowContext(qctx, "SELECT 1").Scan(&one)
				})
				b.StopTimer()
				closeFn()
				samples = append(samples, d)
				if i%2 == 1 {
					floorDuring()
				}
				// The floor with no rotation going on.
				if steps, err := floor.Postgres(ctx, e.client, e.id, noTLS); err != nil {
					b.Fatal(err)
				} else {
					idle = append(idle, steps.Total())
				}
				b.StartTimer()
			}
			reportQuantiles(b, samples)
			fl50, fl99 := quantile(floors, 0.5), quantile(floors, 0.99)
			b.ReportMetric(ms(fl50), "floor-p50-ms")
			b.ReportMetric(ms(fl99), "floor-p99-ms")
			b.ReportMetric(ms(quantile(floors, 1)), "floor-max-ms")
			b.ReportMetric(ms(quantile(idle, 0.5)), "idlefloor-p50-ms")
			b.ReportMetric(ms(quantile(idle, 0.99)), "idlefloor-p99-ms")
			b.ReportMetric(ms(quantile(samples, 0.9)), "p90-ms")
			b.ReportMetric(ms(quantile(floors, 0.9)), "floor-p90-ms")
			b.ReportMetric(float64(quantile(samples, 0.5))/float64(fl50), "p50-floors")
			b.ReportMetric(float64(quantile(samples, 0.9))/float64(quantile(floors, 0.9)), "p90-floors")
			b.ReportMetric(float64(quantile(samples, 0.99))/float64(fl99), "p99-floors")
			writeSamples(b, "recover_"+im.name, samples)
			writeSamples(b, "floor_"+im.name, floors)
			writeSamples(b, "idlefloor_"+im.name, idle)
		})
	}
}

// rotateAndWait runs one rotation and, once setSecret has changed the password, recover; it
// returns the time from the change to the end of recover, after the rotation has ended.
func rotateAndWait(b *testing.B, e *pgEnv, h *rotate.Handler, strat signalStrategy, recover func(passwordSet) error) time.Duration {
	b.Helper()
	ctx := context.Background()
	rotated := make(chan error, 1)
	go func() {
		_, err := h.Rotate(ctx, e.id)
		rotated <- err
	}()
	var d time.Duration
	select {
	case ps := <-strat.set:
		if err := recover(ps); err != nil {
			b.Fatalf("first login after the password change: %v", err)
		}
		d = time.Since(ps.at)
	case err := <-rotated:
		b.Fatalf("rotation ended before setSecret signalled: %v", err)
	}
	if err := <-rotated; err != nil {
		b.Fatal(err)
	}
	return d
}

// current returns the secret's AWSCURRENT value: what a client caches before a rotation.
func (e *pgEnv) current(b *testing.B) rotasafe.DBSecret {
	b.Helper()
	v, err := rotasafe.Fetch(context.Background(), e.client, e.id, "", rotasafe.StageCurrent)
	if err != nil {
		b.Fatal(err)
	}
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// reportQuantiles reports the p50, p99 and max of samples in milliseconds.
func reportQuantiles(b *testing.B, samples []time.Duration) {
	b.ReportMetric(ms(quantile(samples, 0.50)), "p50-ms")
	b.ReportMetric(ms(quantile(samples, 0.99)), "p99-ms")
	b.ReportMetric(ms(quantile(samples, 1)), "max-ms")
}

// quantile returns the p-quantile of samples (nearest rank), 0 without samples.
func quantile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	i := int(p*float64(len(s)) + 0.5)
	return s[min(max(i-1, 0), len(s)-1)]
}

// BenchmarkRotate runs one full four-step rotation (rotate.Rotate) against the real cluster per
// iteration, per scenario.
func BenchmarkRotate(b *testing.B) {
	for _, sc := range []struct {
		name  string
		strat rotate.Strategy
	}{
		{"single", rotate.PostgresSingleUser(rotate.WithTLSMode(rotate.TLSDisable))},
		{"alternating", rotate.PostgresAlternatingUsers(rotate.WithTLSMode(rotate.TLSDisable))},
	} {
		b.Run("scenario="+sc.name+"/impl=rotasafe", func(b *testing.B) {
			e := newPGEnv(b, "bench/rotate")
			id := e.id
			if sc.name == "alternating" {
				master := e.store(b, pgtest.UniqueName("bench/master"), e.dbSecret(e.pg.SuperUser(), e.pg.SuperPassword()))
				s := e.secret
				s.MasterARN = master
				id = pgtest.UniqueName("bench/alt")
				e.store(b, id, s)
			}
			h := rotate.NewHandler(e.client, sc.strat, rotate.WithLogger(nil))
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				if _, err := h.Rotate(ctx, id); err != nil {
					b.Fatal(fmt.Errorf("rotation: %w", err))
				}
			}
		})
	}
}

// BenchmarkPoolConnect makes one new connection of a pgx pool and closes it: a pool
// configured by pgxpoolconn (credentials from a warm cache, the login handed over to the
// pool's connect) vs a plain pgxpool with the same credentials in its configuration. Each
// pool has made one connection before either is measured (warmConnect).
func BenchmarkPoolConnect(b *testing.B) {
	e := newPGEnv(b, "bench/pool")
	c := cache.New(e.client, cache.WithLogger(nil))
	b.Cleanup(func() { c.Close() })
	ours, err := pgxpool.ParseConfig("sslmode=disable pool_max_conns=1")
	if err != nil {
		b.Fatal(err)
	}
	if err := pgxpoolconn.Configure(ours, c, e.id); err != nil {
		b.Fatal(err)
	}
	peer, err := pgxpool.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=disable pool_max_conns=1",
		e.secret.Host, e.secret.PortOrDefault(), e.secret.DBNameOrDefault(), e.secret.Username))
	if err != nil {
		b.Fatal(err)
	}
	peer.ConnConfig.Password = e.secret.Password
	ctx := context.Background()
	impls := []struct {
		name string
		pool *pgxpool.Pool
	}{{"rotasafe", nil}, {"pgxpool", nil}}
	for i, cfg := range []*pgxpool.Config{ours, peer} {
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		conn, err := pool.Acquire(ctx) // warm: see warmConnect
		if err != nil {
			b.Fatal(err)
		}
		if err := conn.Hijack().Close(ctx); err != nil {
			b.Fatal(err)
		}
		impls[i].pool = pool
	}
	for _, im := range inOrder(impls) {
		b.Run("impl="+im.name, func(b *testing.B) {
			pool := im.pool
			b.ReportAllocs()
			for b.Loop() {
				conn, err := pool.Acquire(ctx) // the pool is empty: a new connection
				if err != nil {
					b.Fatal(err)
				}
				if err := conn.Hijack().Close(ctx); err != nil { // out of the pool, closed
					b.Fatal(err)
				}
			}
		})
	}
}
