package pgxpoolconn_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotasafe/rotasafe/pgxpoolconn"
	"github.com/rotasafe/rotasafe/retry"
)

// TestConfigureKeepsApplicationSettings: the connection logs in as the secret's user, and
// the application's settings and hooks stay in force.
func TestConfigureKeepsApplicationSettings(t *testing.T) {
	for _, connString := range []string{
		"sslmode=disable application_name=orders pool_max_conns=3", // no host: pgx's default socket directory
		"host=localhost port=1 dbname=nowhere sslmode=prefer application_name=orders pool_max_conns=3",
		"postgres://localhost:1/nowhere?sslmode=prefer&application_name=orders&pool_max_conns=3",
	} {
		t.Run(connString, func(t *testing.T) {
			e := newEnv(t, nil)
			cfg, err := pgxpool.ParseConfig(connString)
			if err != nil {
				t.Fatal(err)
			}
			cfg.ConnConfig.RuntimeParams["search_path"] = "app_schema"
			var before, after atomic.Int64
			cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
				before.Add(1)
				cc.RuntimeParams["timezone"] = "UTC"
				return nil
			}
			var afterUser atomic.Pointer[string]
			cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
				after.Add(1)
				u := conn.Config().User
				afterUser.Store(&u)
				return nil
			}
			if err := pgxpoolconn.Configure(cfg, e.NewCache(t), e.SecretID); err != nil {
				t.Fatal(err)
			}
			if cfg.MaxConns != 3 {
				t.Errorf("MaxConns = %d, want 3", cfg.MaxConns)
			}
			pool := newPool(t, cfg)
			ctx := t.Context()
			var user, db, app, path, tz string
			err = pool.QueryRow(ctx, "SELECT current_user, current_database(), current_setting('application_name'), current_setting('search_path'), current_setting('timezone')").
				Scan(&user, &db, &app, &path, &tz)
			if err != nil {
				t.Fatal(err)
			}
			if got := [5]string{user, db, app, path, tz}; got != [5]string{e.User, "postgres", "orders", "app_schema", "UTC"} {
				t.Errorf("session (user, database, application_name, search_path, timezone) = %q, want the secret's user and database, the rest the application's", got)
			}
			if before.Load() != 1 || after.Load() != 1 {
				t.Errorf("BeforeConnect ran %d times, AfterConnect %d; want 1 each", before.Load(), after.Load())
			}
			if u := afterUser.Load(); u == nil || *u != e.User {
				t.Errorf("AfterConnect saw user %v, want %q", u, e.User)
			}
		})
	}
}

func TestConfigureRefuses(t *testing.T) {
	e := newEnv(t, nil)
	c := e.NewCache(t)
	const pw = "s3cret-in-the-string"
	withPassword, err := pgxpool.ParseConfig("user=app password=" + pw)
	if err != nil {
		t.Fatal(err)
	}
	plain := func() *pgxpool.Config {
		cfg, err := pgxpool.ParseConfig("")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	tests := []struct {
		name  string
		err   error
		wants string
	}{
		{"password in the configuration", pgxpoolconn.Configure(withPassword, c, e.SecretID), "already has a password"},
		{"nil configuration", pgxpoolconn.Configure(nil, c, e.SecretID), "nil pool configuration"},
		{"nil source", pgxpoolconn.Configure(plain(), nil, e.SecretID), "nil rotasafe.Source"},
		{"empty secret ID", pgxpoolconn.Configure(plain(), c, ""), "empty secret ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || !strings.Contains(tt.err.Error(), tt.wants) {
				t.Fatalf("got %v, want an error containing %q", tt.err, tt.wants)
			}
			if strings.Contains(fmt.Sprintf("%v %+v %#v", tt.err, tt.err, tt.err), pw) {
				t.Errorf("the error holds the password")
			}
		})
	}
	t.Run("policy with a classifier", func(t *testing.T) {
		// An invalid option is a programming error: it panics, as in every constructor.
		defer func() {
			if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "pgxpoolconn: WithRetry") {
				t.Errorf("got panic %v, want one naming pgxpoolconn: WithRetry", p)
			}
		}()
		_ = pgxpoolconn.Configure(plain(), c, e.SecretID, pgxpoolconn.WithRetry(retry.Policy{Retryable: func(error) bool { return true }}))
	})
	t.Run("PGPASSWORD", func(t *testing.T) {
		t.Setenv("PGPASSWORD", pw)
		if err := pgxpoolconn.Configure(plain(), c, e.SecretID); err == nil || strings.Contains(err.Error(), pw) {
			t.Errorf("Configure with PGPASSWORD set: got %v, want a refusal without the password", err)
		}
		// New ignores it: the credentials come from the secret.
		pool, err := pgxpoolconn.New(t.Context(), c, e.SecretID)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		var user string
		if err := pool.QueryRow(t.Context(), "SELECT current_user").Scan(&user); err != nil || user != e.User {
			t.Errorf("New: got user %q, %v; want %q", user, err, e.User)
		}
	})
}

// TestBeforeConnectError: the application's BeforeConnect runs first, and its error
// reaches Acquire as it is, with no login.
func TestBeforeConnectError(t *testing.T) {
	e := newEnv(t, nil)
	cfg, err := pgxpool.ParseConfig("sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("not now")
	cfg.BeforeConnect = func(context.Context, *pgx.ConnConfig) error { return boom }
	creds := pgxpoolconn.NewCredentials(e.NewCache(t), e.SecretID)
	if err := creds.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	pool := newPool(t, cfg)
	if _, err := pool.Acquire(t.Context()); !errors.Is(err, boom) {
		t.Errorf("Acquire: got %v, want the BeforeConnect error", err)
	}
	if st := creds.Stats(); st.Logins != 0 {
		t.Errorf("Stats().Logins = %d, want 0", st.Logins)
	}
}

// TestCancelRequest: a query cancelled through pgx's cancel request reaches the server
// through the session the pool took over (its DialFunc dials anew after the handover).
func TestCancelRequest(t *testing.T) {
	e := newEnv(t, nil)
	cfg, _ := e.poolConfig(t, "sslmode=disable")
	cfg.ConnConfig.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, CancelRequestDelay: 0, DeadlineDelay: 10 * time.Second}
	}
	pool := newPool(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := pool.Exec(ctx, "SELECT pg_sleep(30)")
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok || pgErr.Code != "57014" {
		t.Fatalf("got %v, want the server's query_canceled (57014)", err)
	}
	var one int
	if err := pool.QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil {
		t.Errorf("query after the cancel: %v", err)
	}
}
