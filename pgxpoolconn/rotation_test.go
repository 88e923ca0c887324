package pgxpoolconn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/internal/testserver/secretenv"
	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/pgxpoolconn"
)

// startLoad queries a pool from n goroutines with Acquire, Query, QueryRow and Begin in turn
// until stopped, and keeps every error with the name of the call that returned it.
func startLoad(pool *pgxpool.Pool, n int) *fixture.Load {
	ops := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"Acquire", func(ctx context.Context) error {
			c, err := pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer c.Release()
			_, err = c.Exec(ctx, "SELECT 1")
			return err
		}},
		{"Query", func(ctx context.Context) error {
			rows, err := pool.Query(ctx, "SELECT generate_series(1, 3)")
			if err != nil {
				return err
			}
			_, err = pgx.CollectRows(rows, pgx.RowTo[int32])
			return err
		}},
		{"QueryRow", func(ctx context.Context) error {
			var user string
			return pool.QueryRow(ctx, "SELECT current_user").Scan(&user)
		}},
		{"Begin", func(ctx context.Context) error {
			tx, err := pool.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx)
			var one int
			if err := tx.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}},
	}
	return fixture.StartLoad(n, func(g, i int) error {
		op := ops[(g+i)%len(ops)]
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := op.do(ctx); err != nil {
			return fmt.Errorf("%s: %w", op.name, err)
		}
		return nil
	})
}

// TestRotationUnderLoad: 8 goroutines query a pool of 8 connections that live 200ms, so new
// connections keep logging in, through single-user rotations in Secrets Manager's order and
// through alternating-users rotations. No error reaches Acquire, Query, QueryRow or Begin,
// and a connection opened before the rotations keeps working.
func TestRotationUnderLoad(t *testing.T) {
	tests := []struct {
		name      string
		rotations int
		rotator   func(e *env) func(context.Context) error
	}{
		{"single user", 20, func(e *env) func(context.Context) error { return e.Rotate }},
		{"alternating users", 10, (*env).alternating},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			rotate := tt.rotator(e)
			var logs fixture.Buffer
			cfg, creds := e.poolConfig(t, "sslmode=disable",
				pgxpoolconn.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			cfg.MaxConns = 8
			cfg.MaxConnLifetime = 200 * time.Millisecond
			cfg.MaxConnLifetimeJitter = 0
			pool := newPool(t, cfg)

			ctx := t.Context()
			held, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer held.Release()
			var heldPID int
			if err := held.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&heldPID); err != nil {
				t.Fatal(err)
			}

			l := startLoad(pool, 8)
			l.Between(t, "rotation", tt.rotations, 16, 30*time.Second, func(int) error { return rotate(ctx) })

			var pid int
			if err := held.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil || pid != heldPID {
				t.Errorf("connection opened before the rotations: pid %d, %v; want pid %d and no error", pid, err, heldPID)
			}
			l.ReportErrors(t, "call")
			st, ps := creds.Stats(), pool.Stat()
			t.Logf("%d calls over %d rotations, %d new pool connections; stats %+v", l.OK(), tt.rotations, ps.NewConnsCount(), st)
			if ps.NewConnsCount() < int64(2*tt.rotations) {
				t.Errorf("%d new pool connections over %d rotations: too few logins to prove anything", ps.NewConnsCount(), tt.rotations)
			}
			if tt.name == "single user" && st.Rejected.Total() == 0 {
				t.Errorf("Stats().Rejected = 0: no login met a rotated password, the test proved nothing")
			}
			e.CheckNoPassword(t, "the log", logs.String())
		})
	}
}

// TestRotationLeavesPoolAlone: a rotation neither closes nor replaces the pool's open
// connections.
func TestRotationLeavesPoolAlone(t *testing.T) {
	e := newEnv(t, nil)
	cfg, _ := e.poolConfig(t, "sslmode=disable pool_max_conns=4")
	pool := newPool(t, cfg)
	ctx := t.Context()
	pids := func() map[int]bool {
		t.Helper()
		var conns []*pgxpool.Conn
		defer func() {
			for _, c := range conns {
				c.Release()
			}
		}()
		got := map[int]bool{}
		for range 4 {
			c, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			var pid int
			if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				t.Fatal(err)
			}
			got[pid] = true
		}
		return got
	}
	before := pids()
	for range 3 {
		if err := e.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	after := pids()
	if fmt.Sprint(before) != fmt.Sprint(after) || pool.Stat().NewConnsCount() != 4 {
		t.Errorf("backends %v before the rotations, %v after, %d connections made; want the same 4", before, after, pool.Stat().NewConnsCount())
	}
}

// TestStormAfterRotation: after AWSCURRENT moved, 100 concurrent Acquire on a pool whose
// cache still holds the old version make at most 2 GetSecretValue calls, and all succeed.
func TestStormAfterRotation(t *testing.T) {
	e := newEnv(t, nil)
	cfg, creds := e.poolConfig(t, "sslmode=disable")
	cfg.MaxConns = 100
	pool := newPool(t, cfg)
	ctx := t.Context()
	if err := pool.Ping(ctx); err != nil { // warm the cache with the old AWSCURRENT
		t.Fatal(err)
	}
	pool.Reset() // no idle connection: every Acquire logs in
	if err := e.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	e.SM.ResetCalls()

	const n = 100
	conns, errs := fixture.Burst(n, func() (*pgxpool.Conn, error) { return pool.Acquire(ctx) })
	for _, c := range conns {
		c.Release()
	}
	if len(errs) > 0 {
		t.Fatalf("%d of %d Acquire calls failed, first: %v", len(errs), n, errs[0])
	}
	if got := e.SM.Calls("GetSecretValue"); got > 2 {
		t.Errorf("GetSecretValue calls for %d concurrent Acquire after a rotation = %d, want at most 2", n, got)
	}
	st := creds.Stats()
	if st.Rejected.Total() == 0 {
		t.Errorf("no login was rejected: the storm did not meet the old password")
	}
	t.Logf("storm of %d: %d new connections, GetSecretValue calls %d; stats %+v", n, pool.Stat().NewConnsCount(), e.SM.Calls("GetSecretValue"), st)
}

// TestWrongCredentials: a password no label holds fails Acquire with a *ConnectError that
// names the secret, reaches the 28P01 and holds no password, within the retry policy's
// attempts and with a bounded number of Secrets Manager calls.
func TestWrongCredentials(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.AlterPassword(t.Context(), secretenv.NewPassword()); err != nil { // no label holds it
		t.Fatal(err)
	}
	const attempts = 3
	p := login.DefaultPolicy()
	p.Initial, p.Max, p.MaxAttempts = 10*time.Millisecond, 20*time.Millisecond, attempts
	cfg, creds := e.poolConfig(t, "sslmode=disable", pgxpoolconn.WithRetry(p), pgxpoolconn.WithLogger(slog.New(slog.DiscardHandler)))
	pool := newPool(t, cfg)

	_, err := pool.Acquire(context.Background())
	ce, ok := errors.AsType[*rotasafe.ConnectError](err)
	if !ok {
		t.Fatalf("got %v, want a *rotasafe.ConnectError", err)
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != "28P01" {
		t.Errorf("errors.As(*pgconn.PgError) = %v, %v; want the 28P01", pgErr, ok)
	}
	msg := fmt.Sprintf("%v %+v %#v %s", err, err, err, err)
	if !strings.Contains(msg, e.SecretID) || !strings.Contains(msg, "pgxpoolconn") {
		t.Errorf("error %q does not name the package and the secret", err)
	}
	e.CheckNoPassword(t, "the error", msg)
	// One version only: each round tries it once, and the label reads find nothing else.
	if ce.Total > attempts {
		t.Errorf("%d logins, want at most %d (the policy's MaxAttempts rounds of one version)", ce.Total, attempts)
	}
	if got := e.SM.Calls("GetSecretValue"); got > 1+3*attempts {
		t.Errorf("%d GetSecretValue calls, want at most %d", got, 1+3*attempts)
	}
	t.Logf("error: %v; stats %+v; GetSecretValue calls %d", err, creds.Stats(), e.SM.Calls("GetSecretValue"))
}
