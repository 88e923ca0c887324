package pgtest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
)

func connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pgx.Connect(ctx, dsn)
}

func mustConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestServer runs testserver's checks: Stop, Start, Restart, a taken port, Close, two
// clusters at once, printing without the password, a bad setting name, bad external
// URLs and UniqueName.
func TestServer(t *testing.T) {
	testserver.TestServer(t, testserver.Kit[*pgtest.Cluster]{
		Start: func(ctx context.Context) (*pgtest.Cluster, error) { return pgtest.Start(ctx) },
		Login: func(ctx context.Context, c *pgtest.Cluster, password string) (func(context.Context) error, func(), error) {
			conn, err := connect(ctx, c.ConnString(c.SuperUser(), password, "postgres"))
			if err != nil {
				return nil, nil, err
			}
			return conn.Ping, func() { conn.Close(context.Background()) }, nil
		},
		Password: (*pgtest.Cluster).SuperPassword,
		Dir:      func(c *pgtest.Cluster) string { return filepath.Dir(c.LogPath()) },
		Unreachable: func(err error) bool {
			_, ok := errors.AsType[*pgconn.ConnectError](err)
			return ok && sqlState(err) == ""
		},
		Refused:     func(err error) bool { return sqlState(err) == "28P01" },
		StartCmd:    func(*pgtest.Cluster) string { return "pg_ctl start" },
		ErrExternal: pgtest.ErrExternal,
		ErrClosed:   pgtest.ErrClosed,
		EnvURL:      pgtest.EnvURL,
		BadURLs: map[string]string{
			"not a URL":    "host=localhost password=hunter2-secret",
			"wrong scheme": "mysql://u:hunter2-secret@localhost/db",
			"unreachable":  "postgres://u:hunter2-secret@127.0.0.1:1/db?connect_timeout=2",
		},
		BadSetting: func(ctx context.Context) (*pgtest.Cluster, error) {
			return pgtest.Start(ctx, pgtest.WithSetting("fsync = on\nlisten_addresses", "x"))
		},
		UniqueName: pgtest.UniqueName,
	})
}

func BenchmarkStart(b *testing.B) {
	testserver.BenchmarkStart(b, pgtest.EnvURL, func(ctx context.Context) (*pgtest.Cluster, error) { return pgtest.Start(ctx) })
}

func TestSuperuserConnects(t *testing.T) {
	t.Parallel()
	c := pgtest.New(t)
	conn := mustConnect(t, c.DSN())

	var user, method string
	var super bool
	err := conn.QueryRow(t.Context(),
		`SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&user, &super)
	if err != nil {
		t.Fatal(err)
	}
	if user != c.SuperUser() || !super {
		t.Errorf("got user %q superuser=%v, want %q superuser=true", user, super, c.SuperUser())
	}
	if c.External() {
		return
	}
	// Every connection must authenticate with SCRAM: no trust entries.
	rows, err := conn.Query(t.Context(), `SELECT DISTINCT auth_method FROM pg_hba_file_rules`)
	if err != nil {
		t.Fatal(err)
	}
	methods, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(methods, []string{"scram-sha-256"}) {
		t.Errorf("got pg_hba auth methods %v, want [scram-sha-256]", methods)
	}
	if err := conn.QueryRow(t.Context(), `SHOW password_encryption`).Scan(&method); err != nil {
		t.Fatal(err)
	}
	if method != "scram-sha-256" {
		t.Errorf("got password_encryption %q, want scram-sha-256", method)
	}

	// Wrong superuser password is refused.
	_, err = connect(t.Context(), c.ConnString(c.SuperUser(), c.SuperPassword()+"x", "postgres"))
	if code := sqlState(err); code != "28P01" {
		t.Errorf("superuser with wrong password: got SQLSTATE %q (%v), want 28P01", code, err)
	}
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestCreateRoleLogin(t *testing.T) {
	t.Parallel()
	c := pgtest.New(t, pgtest.WithLogStatements())
	ctx := t.Context()

	role := pgtest.UniqueName("app")
	const password = `pa'ss "w@rd:/?#%$ 1` // quotes and URL metacharacters
	if err := c.CreateRole(ctx, role, password, "CREATEDB", "CONNECTION LIMIT 5"); err != nil {
		t.Fatal(err)
	}
	db := pgtest.UniqueName("db")
	if err := c.CreateDatabase(ctx, db, role); err != nil {
		t.Fatal(err)
	}

	conn := mustConnect(t, c.ConnString(role, password, db))
	var user, curDB string
	var createDB bool
	if err := conn.QueryRow(ctx, `SELECT current_user, current_database(), rolcreatedb FROM pg_roles WHERE rolname = current_user`).
		Scan(&user, &curDB, &createDB); err != nil {
		t.Fatal(err)
	}
	if user != role || curDB != db || !createDB {
		t.Errorf("got user %q db %q createdb=%v, want %q %q true", user, curDB, createDB, role, db)
	}

	su := mustConnect(t, c.DSN())
	var stored string
	if err := su.QueryRow(ctx, `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, role).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "SCRAM-SHA-256$4096:") {
		t.Errorf("got stored password of form %.20q..., want a SCRAM-SHA-256$4096: verifier", stored)
	}

	tests := []struct {
		name     string
		password string
	}{
		{"wrong", password + "x"},
		{"empty", ""},
		{"prefix", password[:len(password)-1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := connect(ctx, c.ConnString(role, tt.password, db))
			if err == nil {
				conn.Close(ctx)
				t.Fatal("login with wrong password succeeded")
			}
			if code := sqlState(err); code != "28P01" {
				t.Errorf("got SQLSTATE %q (%v), want 28P01", code, err)
			}
		})
	}

	if c.External() {
		return
	}
	log, err := c.ReadLog()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "CREATE ROLE "+`"`+role+`"`) {
		t.Errorf("server log lacks the CREATE ROLE statement for %s; log:\n%s", role, log)
	}
	if strings.Contains(log, password) || strings.Contains(log, "pa'ss") || strings.Contains(log, "pa''ss") {
		t.Error("server log contains the plaintext password")
	}
	if strings.Contains(log, c.SuperPassword()) {
		t.Error("server log contains the superuser password")
	}
}

func TestCreateRoleRejects(t *testing.T) {
	t.Parallel()
	c := pgtest.New(t)
	tests := []struct {
		name, role, password string
		attrs                []string
		want                 string
	}{
		{"empty name", "", "pw", nil, "empty role name"},
		{"injected attribute", "r1", "pw", []string{"LOGIN; DROP ROLE postgres"}, "unsupported role attribute"},
		{"non-ascii password", "r2", "pässwörd", nil, "not ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.CreateRole(t.Context(), tt.role, tt.password, tt.attrs...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.password) {
				t.Errorf("error %q holds the password", err)
			}
		})
	}

	// A role name with quotes is an identifier, not SQL.
	role := pgtest.UniqueName(`we"ird role`)
	if err := c.CreateRole(t.Context(), role, "pw"); err != nil {
		t.Fatal(err)
	}
	mustConnect(t, c.ConnString(role, "pw", "postgres"))

	// Creating it twice fails with duplicate_object, naming the role.
	err := c.CreateRole(t.Context(), role, "secret-pw")
	if code := sqlState(err); code != "42710" {
		t.Errorf("second CreateRole: got SQLSTATE %q (%v), want 42710", code, err)
	}
	if err != nil && strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("error %q holds the password", err)
	}
}

func TestWithSetting(t *testing.T) {
	t.Parallel()
	c := pgtest.New(t, pgtest.WithMaxConnections(17), pgtest.WithSetting("application_name", "it's pgtest"))
	if c.External() {
		t.Skip("external server (ROTASAFE_PG_URL): settings not applied")
	}
	conn := mustConnect(t, c.DSN())
	var maxConn, fsync string
	if err := conn.QueryRow(t.Context(), `SELECT current_setting('max_connections'), current_setting('fsync')`).
		Scan(&maxConn, &fsync); err != nil {
		t.Fatal(err)
	}
	if maxConn != "17" || fsync != "off" {
		t.Errorf("got max_connections=%s fsync=%s, want 17 off", maxConn, fsync)
	}
	var appName string
	if err := conn.QueryRow(t.Context(), `SELECT reset_val FROM pg_settings WHERE name = 'application_name'`).Scan(&appName); err != nil {
		t.Fatal(err)
	}
	if appName != "it's pgtest" {
		t.Errorf("got application_name default %q, want %q", appName, "it's pgtest")
	}
}

func TestConnStringEscapes(t *testing.T) {
	c := pgtest.New(t)
	const user, password, db = "us@er:x", "p@ss/w:rd?#%", "my db/1"
	cfg, err := pgx.ParseConfig(c.ConnString(user, password, db))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != user || cfg.Password != password || cfg.Database != db {
		t.Errorf("got user %q password ok=%v db %q, want %q, true, %q",
			cfg.User, cfg.Password == password, cfg.Database, user, db)
	}
	if cfg.Host != c.Host() || int(cfg.Port) != c.Port() {
		t.Errorf("got %s:%d, want %s:%d", cfg.Host, cfg.Port, c.Host(), c.Port())
	}
}

// TestExternalServer points ROTASAFE_PG_URL at a cluster and checks that
// Start then uses it instead of starting one, and refuses to stop it.
func TestExternalServer(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) != "" {
		t.Skip("already running against an external server")
	}
	owner := pgtest.New(t)
	t.Setenv(pgtest.EnvURL, owner.DSN()+"&application_name=ext")
	ctx := t.Context()

	c := pgtest.New(t)
	if !c.External() {
		t.Fatal("External() = false with ROTASAFE_PG_URL set")
	}
	if c.Port() != owner.Port() || c.Host() != owner.Host() || c.SuperUser() != owner.SuperUser() ||
		c.SuperPassword() != owner.SuperPassword() {
		t.Errorf("got %s@%s:%d, want %s@%s:%d", c.SuperUser(), c.Host(), c.Port(),
			owner.SuperUser(), owner.Host(), owner.Port())
	}
	for name, fn := range map[string]func(context.Context) error{"Stop": c.Stop, "Start": c.Start, "Restart": c.Restart} {
		if err := fn(ctx); !errors.Is(err, pgtest.ErrExternal) {
			t.Errorf("%s: got %v, want ErrExternal", name, err)
		}
	}
	if _, err := c.ReadLog(); err == nil {
		t.Error("ReadLog on external server: got nil error")
	}

	role := pgtest.UniqueName("ext")
	if err := c.CreateRole(ctx, role, "pw"); err != nil {
		t.Fatal(err)
	}
	conn := mustConnect(t, c.ConnString(role, "pw", "postgres"))
	var app string
	if err := conn.QueryRow(ctx, `SHOW application_name`).Scan(&app); err != nil {
		t.Fatal(err)
	}
	if app != "ext" {
		t.Errorf("ConnString dropped the URL's query: got application_name %q, want ext", app)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Close of the external cluster must leave the server running.
	mustConnect(t, owner.DSN())
}
