package metrics_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/stagecount"
	"github.com/rotasafe/rotasafe/internal/telemetry"
	"github.com/rotasafe/rotasafe/internal/telemetry/metrictest"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/internal/testserver/redistest"
	"github.com/rotasafe/rotasafe/pgxpoolconn"
	"github.com/rotasafe/rotasafe/redisconn"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/redisacl"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// rotations is how many times each secret rotates. Redis keeps AWSPREVIOUS valid, so its
// client sees a rejection from the second rotation on.
const rotations = 3

// countingAPI counts the GetSecretValue calls the rotator makes, by the stage they name, so
// that the application's share of smtest's count is known.
type countingAPI struct {
	rotasafe.API
	reads stagecount.Counters
}

func (a *countingAPI) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	a.reads.Add(aws.ToString(in.VersionStage))
	return a.API.GetSecretValue(ctx, in, optFns...)
}

// client is one of the three clients under load, with the Stats of its logins.
type client struct {
	name   string // its rotasafe.client
	secret string // the secret ID it was given
	stats  func() rotasafe.LoginStats
	do     func(ctx context.Context) error // one operation on a new connection (a login)
	h      *rotate.Handler
	ok     atomic.Int64 // operations that worked
}

// TestMetricsUnderRotation is issue 22's done-when test: single-user rotations under load
// through sqlconn, pgxpoolconn and redisconn, with the SDK's ManualReader behind the global
// MeterProvider, which every package uses by default. It asserts that
//   - rotasafe.cache.reads by stage equals smtest's GetSecretValue requests by stage, less
//     the rotator's (the application's cache and the rotator share one Secrets Manager);
//   - rotasafe.login.attempts rejected by stage equals each client's Stats().Rejected, and
//     all its attempts Stats().Logins;
//   - each of the handler's four steps is counted once per rotation, with outcome ok;
//   - no attribute value equals a password, a version ID, a user name or a host.
func TestMetricsUnderRotation(t *testing.T) {
	m := metrictest.New(t)
	otel.SetMeterProvider(m.Provider) // before anything is made: no test in this package runs in parallel
	ctx := t.Context()

	rs := redistest.NewEnv(t)
	pg := pgtest.New(t)
	sm := rs.SM
	nop := func(o *secretsmanager.Options) { o.Retryer = aws.NopRetryer{} } // one request per call
	rot := &countingAPI{API: sm.Client(nop)}
	c := cache.New(sm.Client(nop), cache.WithLogger(nil))
	defer c.Close()

	pgSecret := func(name string) (id, user string) {
		user, pw := pgtest.UniqueName("mt"), redistest.Password(t)
		if err := pg.CreateRole(ctx, user, pw); err != nil {
			t.Fatal(err)
		}
		b, err := rotasafe.DBSecret{Engine: "postgres", Host: pg.Host(), Port: pg.Port(), Username: user, Password: pw, DBName: "postgres"}.MarshalSecret()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sm.Client().CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(string(b))}); err != nil {
			t.Fatal(err)
		}
		return name, user
	}
	pgRotator := rotate.NewHandler(rot, rotate.PostgresSingleUser(), rotate.WithLogger(nil))

	sqlID, sqlUser := pgSecret("metrics/sql")
	conn := sqlconn.NewPostgres(c, sqlID, sqlconn.WithLogger(nil))
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxIdleConns(0) // every query logs in
	sqlClient := &client{name: "sqlconn", secret: sqlID, stats: conn.Stats, h: pgRotator, do: func(ctx context.Context) error {
		var n int
		return db.QueryRowContext(ctx, "SELECT 1").Scan(&n)
	}}

	poolID, poolUser := pgSecret("metrics/pool")
	creds := pgxpoolconn.NewCredentials(c, poolID, pgxpoolconn.WithLogger(nil))
	cfg, err := pgxpool.ParseConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Password = ""
	if err := creds.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	poolClient := &client{name: "pgxpoolconn", secret: poolID, stats: creds.Stats, h: pgRotator, do: func(ctx context.Context) error {
		pc, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		var n int
		err = pc.QueryRow(ctx, "SELECT 1").Scan(&n)
		pc.Hijack().Close(ctx) // the next Acquire logs in
		return err
	}}

	redisID, redisUser, _ := rs.AppSecret()
	rcreds := redisconn.NewCredentials(c, redisID, redisconn.WithLogger(nil))
	// NewClient's wiring, by hand, for the Credentials' Stats. A connection lives 5 ms: the
	// commands keep logging in.
	rdb := redis.NewClient(&redis.Options{Addr: rs.Server.Addr, CredentialsProviderContext: rcreds.Provide,
		MaxRetries: -1, PoolSize: 2, ConnMaxLifetime: 5 * time.Millisecond, DisableIdentity: true})
	rdb.AddHook(rcreds)
	defer rdb.Close()
	redisClient := &client{name: "redisconn", secret: redisID, stats: rcreds.Stats,
		h:  rotate.NewHandler(rot, redisacl.Strategy(), rotate.WithLogger(nil)),
		do: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }}

	// Load: each client runs operations on new connections until the rotations end.
	clients := []*client{sqlClient, poolClient, redisClient}
	load, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var errs []error
	for _, cl := range clients {
		for range 2 {
			wg.Go(func() {
				for load.Err() == nil {
					if err := cl.do(load); err != nil {
						if load.Err() == nil {
							errMu.Lock()
							errs = append(errs, fmt.Errorf("%s: %w", cl.name, err))
							errMu.Unlock()
						}
					} else {
						cl.ok.Add(1)
					}
					time.Sleep(2 * time.Millisecond)
				}
			})
		}
	}
	// waitLoad waits until every client has worked twice more.
	waitLoad := func(when string) {
		t.Helper()
		base := make([]int64, len(clients))
		for i, cl := range clients {
			base[i] = cl.ok.Load()
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
			done := true
			for i, cl := range clients {
				done = done && cl.ok.Load() >= base[i]+2
			}
			if done {
				return
			}
			if time.Now().After(deadline) {
				stop()
				wg.Wait()
				t.Fatalf("%s: the clients stopped working: %v", when, errs)
			}
		}
	}
	waitLoad("before the rotations")
	for i := range rotations {
		for _, cl := range clients {
			if _, err := cl.h.Rotate(ctx, cl.secret); err != nil {
				t.Fatalf("rotation %d of %s: %v", i+1, cl.secret, err)
			}
		}
		waitLoad(fmt.Sprintf("after rotation %d", i+1))
	}
	stop()
	wg.Wait()
	for _, err := range errs {
		t.Errorf("an operation failed under load: %v", err)
	}

	// A pool may still be in a login of its own after the load stopped (pgxpool finishes a
	// connect whose caller gave up), and a login counts in Stats before its attempt is
	// metered: collect until each client's metered attempts have caught up with its Stats.
	whoOf := func(cl *client) []attribute.KeyValue {
		return []attribute.KeyValue{telemetry.KeyClient.String(cl.name), telemetry.KeySecret.String(cl.secret)}
	}
	got := m.Collect(t)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		settled := true
		for _, cl := range clients {
			settled = settled && got.Sum("rotasafe.login.attempts", whoOf(cl)...) == cl.stats().Logins
		}
		if settled {
			break
		}
		got = m.Collect(t)
	}
	stage, out := telemetry.KeyStage.String, telemetry.KeyOutcome.String
	type count struct {
		name      string
		got, want int64
	}
	var counts []count

	// Cache reads: what smtest read, less the rotator's reads.
	server, rotator := sm.ReadsByStage(), rot.reads.Load()
	st := c.Stats()
	for _, sc := range []struct {
		stage               string
		server, rotator, st int64
	}{
		{rotasafe.StageCurrent, server.Current, rotator.Current, st.Reads.Current},
		{rotasafe.StagePending, server.Pending, rotator.Pending, st.Reads.Pending},
		{rotasafe.StagePrevious, server.Previous, rotator.Previous, st.Reads.Previous},
		{"other", server.Other, rotator.Other, st.Reads.Other},
	} {
		n := got.Sum("rotasafe.cache.reads", stage(sc.stage))
		counts = append(counts, count{"cache reads of " + sc.stage + " = smtest's less the rotator's", n, sc.server - sc.rotator},
			count{"cache reads of " + sc.stage + " = Stats().Reads", n, sc.st})
	}
	counts = append(counts,
		count{"cache reads = Stats().APICalls", got.Sum("rotasafe.cache.reads"), int64(st.APICalls)},
		count{"cache hits = Stats().Hits", got.Sum("rotasafe.cache.hits"), int64(st.Hits)},
		count{"cache misses = Stats().Misses", got.Sum("rotasafe.cache.misses"), int64(st.Misses)})

	// Logins: the rejected by stage, and all of them, as each client's Stats count them.
	for _, cl := range clients {
		ls := cl.stats()
		who := whoOf(cl)
		rejected := func(s string) int64 {
			return got.Sum("rotasafe.login.attempts", append(who, stage(s), out("rejected"))...)
		}
		counts = append(counts,
			count{cl.name + " rejected AWSCURRENT = Stats()", rejected(rotasafe.StageCurrent), ls.Rejected.Current},
			count{cl.name + " rejected AWSPENDING = Stats()", rejected(rotasafe.StagePending), ls.Rejected.Pending},
			count{cl.name + " rejected AWSPREVIOUS = Stats()", rejected(rotasafe.StagePrevious), ls.Rejected.Previous},
			count{cl.name + " rejected other = Stats()", rejected("other"), ls.Rejected.Other},
			count{cl.name + " attempts = Stats().Logins", got.Sum("rotasafe.login.attempts", who...), ls.Logins})
		if ls.Rejected.Total() == 0 {
			t.Errorf("%s: no login was rejected; the test does not exercise the walk", cl.name)
		}
		t.Logf("%s: %+v", cl.name, ls)
	}

	// Steps: each of the four once per rotation of each secret, all ok.
	for _, cl := range clients {
		secret := telemetry.KeySecret.String(cl.secret)
		for _, step := range []string{rotasafe.StepCreateSecret, rotasafe.StepSetSecret, rotasafe.StepTestSecret, rotasafe.StepFinishSecret} {
			counts = append(counts, count{cl.secret + " " + step + " ok",
				got.Sum("rotasafe.rotation.steps", secret, telemetry.KeyStep.String(step), out("ok")), rotations})
		}
		counts = append(counts, count{cl.secret + " steps that failed", got.Sum("rotasafe.rotation.steps", secret, out("error")), 0})
	}
	for _, n := range counts {
		if n.got != n.want {
			t.Errorf("%s: got %d, want %d", n.name, n.got, n.want)
		}
	}
	t.Logf("smtest reads %+v, the rotator's %+v; cache %+v", server, rotator, st)

	// No attribute value is a password, a version ID, a user name or a host.
	forbidden := map[string]string{pg.Host(): "a host", rs.Server.Host: "a host", "localhost": "a host",
		pg.SuperUser(): "a user name", rs.Server.AdminUser: "a user name", sqlUser: "a user name", poolUser: "a user name", redisUser: "a user name"}
	for _, id := range []string{sqlID, poolID, redisID, rs.MasterARN} {
		for _, v := range sm.Versions(id) {
			forbidden[v.ID] = "a version ID"
			if !v.HasValue {
				continue
			}
			ver, err := rotasafe.Fetch(ctx, sm.Client(), id, v.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			s, err := rotasafe.ParseDBSecret([]byte(ver.SecretString))
			if err != nil {
				t.Fatal(err)
			}
			forbidden[s.Password], forbidden[s.Username], forbidden[s.Host] = "a password", "a user name", "a host"
		}
	}
	attrs := got.Attributes()
	for _, kv := range attrs {
		if what, ok := forbidden[kv.Value.String()]; ok {
			t.Errorf("attribute %s is %s", kv.Key, what)
		}
	}
	if len(attrs) == 0 || len(forbidden) < 10 {
		t.Errorf("checked %d attributes against %d forbidden values, want some of each", len(attrs), len(forbidden))
	}
}
