package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/smtest"
	"github.com/rotasafe/rotasafe/tests/floor"
)

// queryTimeout bounds each application query, connect included: the connector must ride
// through a rotation within it.
const queryTimeout = 10 * time.Second

// counters are what the workers and the rotator report, read by the status line.
type counters struct {
	queries     atomic.Uint64 // queries that succeeded
	appErrors   atomic.Uint64 // errors that reached the application
	rotations   atomic.Uint64 // rotations that finished
	rotErrors   atomic.Uint64 // rotations that failed
	lastRecover atomic.Int64  // ns from the last rotation's end to a fresh login with the new secret
}

// world is what the demo sets up: a database, a Secrets Manager and the secret.
type world struct {
	pg       *pgtest.Cluster
	my       *mysqltest.Server // instead of pg, with -engine mariadb
	sm       *smtest.Server
	client   *secretsmanager.Client
	secretID string
	user     string
}

func setup(ctx context.Context, cfg config) (*world, error) {
	if cfg.engine == engineMariaDB {
		w := &world{sm: smtest.NewServer()}
		w.client = w.sm.Client()
		if err := setupMariaDB(ctx, cfg, w); err != nil {
			w.close()
			return nil, err
		}
		return w, nil
	}
	pg, err := pgtest.Start(ctx, pgtest.WithURL(cfg.pgURL))
	if err != nil {
		return nil, err
	}
	w := &world{pg: pg, sm: smtest.NewServer()}
	w.client = w.sm.Client()
	w.user = "demo_app"
	if pg.External() {
		w.user = pgtest.UniqueName("demo_app")
	}
	password := randomPassword()
	if err := pg.CreateRole(ctx, w.user, password); err != nil {
		w.close()
		return nil, err
	}
	app := rotasafe.DBSecret{
		Engine: "postgres", Host: pg.Host(), Port: pg.Port(), Username: w.user, Password: password, DBName: "postgres",
	}
	if cfg.strategy == "alternating" {
		// The master secret holds a user that may create the clone and change passwords.
		master := rotasafe.DBSecret{
			Engine: "postgres", Host: pg.Host(), Port: pg.Port(), Username: pg.SuperUser(), Password: pg.SuperPassword(), DBName: "postgres",
		}
		arn, err := w.createSecret(ctx, "demo/master", master)
		if err != nil {
			w.close()
			return nil, err
		}
		app.MasterARN = arn
	}
	if _, err := w.createSecret(ctx, "demo/app/db", app); err != nil {
		w.close()
		return nil, err
	}
	w.secretID = "demo/app/db"
	return w, nil
}

func (w *world) createSecret(ctx context.Context, name string, s rotasafe.DBSecret) (arn string, err error) {
	value, err := s.MarshalSecret()
	if err != nil {
		return "", err
	}
	out, err := w.client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(string(value)),
	})
	if err != nil {
		return "", fmt.Errorf("create secret %s: %w", name, err)
	}
	return aws.ToString(out.ARN), nil
}

func (w *world) close() {
	if w.sm != nil {
		w.sm.Close()
	}
	if w.pg != nil {
		w.pg.Close()
	}
	if w.my != nil {
		w.my.Close()
	}
}

// run sets up the world, runs the workers and the rotator for cfg.duration and summarises.
func run(ctx context.Context, cfg config, st *status) (summary, error) {
	w, err := setup(ctx, cfg)
	if err != nil {
		return summary{}, err
	}
	defer w.close()

	var copts []cache.Option
	var hopts []rotate.Option
	if cfg.notices == noticesRedis {
		srv, t, err := startNotices(ctx)
		if err != nil {
			return summary{}, err
		}
		defer srv.close()
		// The rotator announces ahead and the cache holds new logins across the password
		// change, so that no login is rejected: one instance needs little lead (a fleet of N
		// needs N ÷ its GetSecretValue quota per second).
		copts = append(copts, cache.WithNotices(t))
		hopts = append(hopts, rotate.WithNotices(t), rotate.WithNoticeLead(noticeLead))
	}
	secrets := cache.New(w.client, copts...)
	defer secrets.Close()
	var load workload
	if cfg.client == clientPgxpool {
		if load, err = w.pgxPoolWorkload(ctx, cfg, secrets); err != nil {
			return summary{}, err
		}
	} else {
		conn := w.connector(secrets)
		db := sql.OpenDB(conn)
		// Fewer idle connections than workers, and short-lived ones: most queries log in anew,
		// which is where a rotation bites.
		db.SetMaxIdleConns(max(1, cfg.workers/4))
		db.SetConnMaxLifetime(time.Second)
		load = workload{
			query: func(ctx context.Context) error {
				var user string
				return db.QueryRowContext(ctx, "SELECT current_user").Scan(&user)
			},
			stats: conn.Stats,
			close: func() { db.Close() },
		}
	}
	defer load.close()

	strategy, err := w.strategy(cfg.strategy)
	if err != nil {
		return summary{}, err
	}
	handler := rotate.NewHandler(w.client, strategy, hopts...)

	var c counters
	var lat, floors latencies
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	start := time.Now()
	st.begin(cfg, &c, start)

	var wg sync.WaitGroup
	for range cfg.workers {
		wg.Go(func() { worker(runCtx, load.query, &c, st) })
	}
	wg.Go(func() { rotator(runCtx, cfg, w, handler, &c, &lat, &floors, st) })
	if cfg.stop != nil {
		wg.Go(func() {
			stopWhen(runCtx, cancel, cfg.stop, func() progress {
				cs := load.stats()
				return progress{Rotations: c.rotations.Load(), RotationErrors: c.rotErrors.Load(),
					AppErrors: c.appErrors.Load(), Logins: cs.Logins, RejectedLogins: cs.Rejected.Total()}
			})
		})
	}
	wg.Wait()
	st.end()

	cs := load.stats()
	ks := secrets.Stats()
	return summary{
		Strategy:         cfg.strategy,
		Client:           cfg.client,
		Notices:          cfg.notices,
		Seconds:          time.Since(start).Seconds(),
		Workers:          cfg.workers,
		Rotations:        c.rotations.Load(),
		RotationErrors:   c.rotErrors.Load(),
		Queries:          c.queries.Load(),
		AppErrors:        c.appErrors.Load(),
		Logins:           cs.Logins,
		RejectedLogins:   cs.Rejected.Total(),
		Fallbacks:        cs.Fallbacks.Total(),
		AppAPICalls:      ks.APICalls,
		TotalAPICalls:    w.sm.Calls(""),
		RecoverP50Millis: lat.quantile(0.50),
		RecoverMaxMillis: lat.quantile(1),
		FloorP50Millis:   floors.quantile(0.50),
	}, nil
}

// progress is what a run has done so far: what cfg.stop decides on.
type progress struct {
	Rotations      uint64 // rotations that finished
	RotationErrors uint64 // rotations that failed
	AppErrors      uint64 // errors that reached the application
	Logins         int64  // the application's logins, done (its client's, not the probe's)
	RejectedLogins int64  // those the database rejected as wrong credentials
}

// stopWhen polls stop with now's progress until it returns true, then cancels the run; it
// returns when ctx ends. In-flight queries and rotations finish (they run without ctx's
// cancellation), so stopping a run early never makes an error.
func stopWhen(ctx context.Context, cancel context.CancelFunc, stop func(progress) bool, now func() progress) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if stop(now()) {
			cancel()
			return
		}
	}
}

// worker queries until ctx ends. An error is one the application would have seen.
func worker(ctx context.Context, query func(context.Context) error, c *counters, st *status) {
	for ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queryTimeout)
		err := query(qctx)
		cancel()
		if err != nil {
			c.appErrors.Add(1)
			st.appError(err)
			continue
		}
		c.queries.Add(1)
	}
}

// rotator rotates the secret every cfg.rotateEvery, and after each rotation measures the
// time to recover: how long an application instance that still holds the old password in
// its cache takes to log in again.
func rotator(ctx context.Context, cfg config, w *world, h *rotate.Handler, c *counters, lat, floors *latencies, st *status) {
	tick := time.NewTicker(cfg.rotateEvery)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		rec, user, version, took, err := rotateOnce(rctx, w, h)
		cancel()
		switch {
		case errors.Is(err, errRotation):
			c.rotErrors.Add(1)
			st.rotationFailed(n, err)
		case err != nil:
			c.rotations.Add(1)
			c.appErrors.Add(1)
			st.appError(err)
		default:
			c.rotations.Add(1)
			c.lastRecover.Store(int64(rec))
			lat.add(rec)
			st.rotated(n, version, user, took, rec)
			if w.pg != nil {
				// The least any client that finds out by failing could take, on this machine
				// now: one rejected login, one GetSecretValue, one login and the first query.
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				if f, err := floor.Postgres(fctx, w.client, w.secretID, nil); err == nil {
					floors.add(f.Total())
				}
				cancel()
			}
		}
	}
}

var errRotation = errors.New("rotation failed")

// rotateOnce rotates the secret while a probe instance (its own cache and pool, no idle
// connections) holds the old version, then times the probe's first query after the
// rotation: a rejected login, one refresh and a login with the new password.
func rotateOnce(ctx context.Context, w *world, h *rotate.Handler) (recovered time.Duration, user, version string, took time.Duration, err error) {
	probeCache := cache.New(w.client)
	defer probeCache.Close()
	if _, err := probeCache.Get(ctx, w.secretID); err != nil {
		return 0, "", "", 0, err
	}
	probe := sql.OpenDB(w.connector(probeCache))
	defer probe.Close()
	probe.SetMaxIdleConns(0)

	began := time.Now()
	version, err = h.Rotate(ctx, w.secretID)
	took = time.Since(began)
	if err != nil {
		return 0, "", "", took, fmt.Errorf("%w: %w", errRotation, err)
	}
	ended := time.Now()
	if err := probe.QueryRowContext(ctx, "SELECT current_user").Scan(&user); err != nil {
		return 0, "", version, took, err
	}
	return time.Since(ended), user, version, took, nil
}

// latencies collects the times to recover.
type latencies struct {
	mu sync.Mutex // guards d
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = append(l.d, d)
}

// quantile returns the q-quantile in milliseconds (nearest rank), 0 without samples.
func (l *latencies) quantile(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}

// summary is what the demo measured.
type summary struct {
	Strategy         string  `json:"strategy"`
	Client           string  `json:"client,omitempty"`
	Notices          string  `json:"notices,omitempty"`
	Seconds          float64 `json:"seconds"`
	Workers          int     `json:"workers"`
	Rotations        uint64  `json:"rotations"`
	RotationErrors   uint64  `json:"rotation_errors"`
	Queries          uint64  `json:"queries"`
	AppErrors        uint64  `json:"app_errors"`
	Logins           int64   `json:"logins"`
	RejectedLogins   int64   `json:"rejected_logins"`
	Fallbacks        int64   `json:"fallbacks"`
	AppAPICalls      uint64  `json:"app_secrets_manager_calls"`
	TotalAPICalls    int     `json:"total_secrets_manager_calls"`
	RecoverP50Millis float64 `json:"recover_p50_ms"`
	RecoverMaxMillis float64 `json:"recover_max_ms"`
	// FloorP50Millis is the median physical floor of recovering (one rejected login, one
	// GetSecretValue, one login, the first query), timed after each rotation; 0 on MariaDB.
	FloorP50Millis float64 `json:"floor_p50_ms,omitempty"`
}

func (s summary) writeJSON(w interface{ Write([]byte) (int, error) }) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// randomPassword returns 26 characters of base32 from crypto/rand: nothing a connection
// string needs to escape.
func randomPassword() string { return rand.Text() }
