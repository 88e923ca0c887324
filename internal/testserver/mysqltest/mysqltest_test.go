package mysqltest_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
)

// connect logs in with cfg and returns the open *sql.DB, or the login's error.
func connect(ctx context.Context, cfg *mysql.Config) (*sql.DB, error) {
	cfg.Timeout = 10 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func mustConnect(t *testing.T, cfg *mysql.Config) *sql.DB {
	t.Helper()
	db, err := connect(t.Context(), cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// errNumber returns the server's error number in err, or 0.
func errNumber(err error) uint16 {
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		return me.Number
	}
	return 0
}

// TestServer runs testserver's checks: Stop, Start, Restart, a taken port, Close, two
// servers at once, printing without the password, a bad setting name, bad external
// URLs and UniqueName.
func TestServer(t *testing.T) {
	testserver.TestServer(t, testserver.Kit[*mysqltest.Server]{
		Start: func(ctx context.Context) (*mysqltest.Server, error) { return mysqltest.Start(ctx) },
		Login: func(ctx context.Context, s *mysqltest.Server, password string) (func(context.Context) error, func(), error) {
			db, err := connect(ctx, s.Config(s.AdminUser(), password, ""))
			if err != nil {
				return nil, nil, err
			}
			db.SetMaxOpenConns(1)
			return db.PingContext, func() { db.Close() }, nil
		},
		Password:    (*mysqltest.Server).AdminPassword,
		Dir:         func(s *mysqltest.Server) string { return filepath.Dir(s.Socket()) },
		Unreachable: func(err error) bool { return err != nil && errNumber(err) == 0 },
		Refused:     func(err error) bool { return errNumber(err) == 1045 },
		StartCmd:    func(s *mysqltest.Server) string { return "mariadbd --port=" + strconv.Itoa(s.Port()) },
		ErrExternal: mysqltest.ErrExternal,
		ErrClosed:   mysqltest.ErrClosed,
		EnvURL:      mysqltest.EnvURL,
		BadURLs: map[string]string{
			"not a URL":     "admin:hunter2-secret@tcp(127.0.0.1:3306)/",
			"wrong scheme":  "postgres://u:hunter2-secret@localhost/db",
			"bad port":      "mysql://u:hunter2-secret@localhost:http/",
			"bad parameter": "mysql://u:hunter2-secret@localhost/?parseTime=maybe",
			"unreachable":   "mysql://u:hunter2-secret@127.0.0.1:1/?timeout=2s",
		},
		BadSetting: func(ctx context.Context) (*mysqltest.Server, error) {
			return mysqltest.Start(ctx, mysqltest.WithSetting("skip-grant-tables --x", "1"))
		},
		UniqueName: mysqltest.UniqueName,
	})
}

func BenchmarkStart(b *testing.B) {
	testserver.BenchmarkStart(b, mysqltest.EnvURL, func(ctx context.Context) (*mysqltest.Server, error) { return mysqltest.Start(ctx) })
}

func TestAdminConnects(t *testing.T) {
	t.Parallel()
	s := mysqltest.New(t)
	db := mustConnect(t, s.Config(s.AdminUser(), s.AdminPassword(), ""))
	var user string
	if err := db.QueryRowContext(t.Context(), `SELECT CURRENT_USER()`).Scan(&user); err != nil {
		t.Fatal(err)
	}
	if want := s.AdminUser() + "@%"; user != want && !s.External() {
		t.Errorf("got CURRENT_USER() %q, want %q", user, want)
	}
	var grants string
	if err := db.QueryRowContext(t.Context(), `SHOW GRANTS`).Scan(&grants); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(grants, "ALL PRIVILEGES ON *.*") || !strings.Contains(grants, "WITH GRANT OPTION") {
		t.Errorf("got grants %q, want ALL PRIVILEGES ON *.* WITH GRANT OPTION", grants)
	}

	// Authentication is real: the admin with a wrong password is refused.
	_, err := connect(t.Context(), s.Config(s.AdminUser(), s.AdminPassword()+"x", ""))
	if n := errNumber(err); n != 1045 {
		t.Errorf("admin with wrong password: got error %d (%v), want 1045", n, err)
	}
	if _, err := connect(t.Context(), s.Config("root", "", "")); errNumber(err) == 0 {
		t.Errorf("root without a password over TCP: got %v, want a refused login", err)
	}
}

func TestCreateUserLogin(t *testing.T) {
	t.Parallel()
	s := mysqltest.New(t)
	ctx := t.Context()

	user := mysqltest.UniqueName("app")
	const password = `pa'ss "w@rd:/?#%$ \1` // quotes, a backslash and DSN metacharacters
	if err := s.CreateUser(ctx, user, password); err != nil {
		t.Fatal(err)
	}
	db := mysqltest.UniqueName("db")
	if err := s.CreateDatabase(ctx, db, user); err != nil {
		t.Fatal(err)
	}

	conn := mustConnect(t, s.Config(user, password, db))
	var gotUser, gotDB string
	if err := conn.QueryRowContext(ctx, `SELECT CURRENT_USER(), DATABASE()`).Scan(&gotUser, &gotDB); err != nil {
		t.Fatal(err)
	}
	if gotUser != user+"@%" || gotDB != db {
		t.Errorf("got user %q db %q, want %q %q", gotUser, gotDB, user+"@%", db)
	}
	// The DSN form logs in too.
	dsnDB, err := sql.Open("mysql", s.ConnString(user, password, db))
	if err != nil {
		t.Fatal(err)
	}
	defer dsnDB.Close()
	if err := dsnDB.PingContext(ctx); err != nil {
		t.Errorf("login through ConnString: %v", err)
	}

	var plugin, stored string
	if err := mustConnect(t, s.Config(s.AdminUser(), s.AdminPassword(), "")).QueryRowContext(ctx,
		`SELECT plugin, authentication_string FROM mysql.user WHERE user = ? AND host = '%'`, user).Scan(&plugin, &stored); err != nil {
		t.Fatal(err)
	}
	if plugin != "mysql_native_password" || stored != mysqltest.NativePasswordHash(password) {
		t.Errorf("got plugin %q and a stored hash equal to NativePasswordHash: %v; want mysql_native_password, true",
			plugin, stored == mysqltest.NativePasswordHash(password))
	}

	tests := []struct {
		name, user, password string
	}{
		{"wrong", user, password + "x"},
		{"empty", user, ""},
		{"prefix", user, password[:len(password)-1]},
		{"unknown user", mysqltest.UniqueName("nobody"), password},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := connect(ctx, s.Config(tt.user, tt.password, ""))
			// An unknown user now and then gets 1698: MariaDB answers as if the account
			// existed with some plugin, so as not to tell that it does not.
			if n := errNumber(err); n != 1045 && !(tt.name == "unknown user" && n == 1698) {
				t.Fatalf("got error %d (%v), want 1045", n, err)
			}
		})
	}

	if s.External() {
		return
	}
	log, err := s.ReadGeneralLog()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "CREATE USER `"+user+"`@`%` IDENTIFIED BY PASSWORD '*") {
		t.Errorf("general log lacks the CREATE USER statement for %s", user)
	}
	if !strings.Contains(log, "Connect\t"+user+"@127.0.0.1 on "+db) {
		t.Errorf("general log lacks the login of %s to %s", user, db)
	}
	s.CheckLogs(t, password, `pa\'ss`, `pa''ss`, s.AdminPassword())
}

func TestCreateUserRejects(t *testing.T) {
	t.Parallel()
	s := mysqltest.New(t)
	tests := []struct {
		name, user, want string
	}{
		{"empty name", "", "empty user name"},
		{"NUL in name", "a\x00b", "NUL byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateUser(t.Context(), tt.user, "secret-pw")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}

	// Creating a user twice fails with the server's error 1396, without the password.
	user := mysqltest.UniqueName("twice")
	if err := s.CreateUser(t.Context(), user, "pw"); err != nil {
		t.Fatal(err)
	}
	err := s.CreateUser(t.Context(), user, "secret-pw")
	if n := errNumber(err); n != 1396 {
		t.Errorf("second CreateUser: got error %d (%v), want 1396", n, err)
	}
	if err != nil && strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("error %q holds the password", err)
	}
}

// TestCreateUserOddNames checks that names holding quotes, backticks, backslashes and % are
// names, not SQL: each creates exactly the account it names, which then logs in.
func TestCreateUserOddNames(t *testing.T) {
	t.Parallel()
	s := mysqltest.New(t)
	admin := mustConnect(t, s.Config(s.AdminUser(), s.AdminPassword(), ""))
	for _, prefix := range []string{"o'brien", "back`tick", `back\slash`, "per%cent", `x'@'%' IDENTIFIED BY 'y`, "semi;colon -- "} {
		t.Run(prefix, func(t *testing.T) {
			user := mysqltest.UniqueName(prefix)
			if err := s.CreateUser(t.Context(), user, "pw"); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := admin.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM mysql.user WHERE user = ?`, user).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Fatalf("got %d accounts named %q, want 1", n, user)
			}
			mustConnect(t, s.Config(user, "pw", ""))
		})
	}
}

func TestNativePasswordHash(t *testing.T) {
	t.Parallel()
	// A well-known vector: PASSWORD('password') on MySQL 5.x and MariaDB.
	if got, want := mysqltest.NativePasswordHash("password"), "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"; got != want {
		t.Errorf("NativePasswordHash(password) = %s, want %s", got, want)
	}
	if got := mysqltest.NativePasswordHash(""); got != "" {
		t.Errorf("NativePasswordHash(\"\") = %q, want \"\"", got)
	}
	s := mysqltest.New(t)
	admin := mustConnect(t, s.Config(s.AdminUser(), s.AdminPassword(), ""))
	for _, pw := range []string{"a", "pässwörd", `'"\`, strings.Repeat("x", 200)} {
		var server string
		if err := admin.QueryRowContext(t.Context(), `SELECT PASSWORD(?)`, pw).Scan(&server); err != nil {
			t.Fatal(err)
		}
		if got := mysqltest.NativePasswordHash(pw); got != server {
			t.Errorf("NativePasswordHash(%q) = %s, the server's PASSWORD() = %s", pw, got, server)
		}
	}
}

func TestGeneralLogCapturesStatements(t *testing.T) {
	t.Parallel()
	s := mysqltest.New(t)
	if s.External() {
		t.Skip("external server (ROTASAFE_MYSQL_URL): no general log")
	}
	ctx := t.Context()
	user := mysqltest.UniqueName("logged")
	if err := s.CreateUser(ctx, user, "pw"); err != nil {
		t.Fatal(err)
	}
	db := mustConnect(t, s.Config(user, "pw", ""))
	marker := mysqltest.UniqueName("marker")
	// A plain statement, a prepared one with its argument, and one that fails.
	if _, err := db.ExecContext(ctx, "DO '"+marker+"_plain'"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "DO ?", marker+"_bound"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "SELECT * FROM no_such_db.t WHERE x = '"+marker+"_failed'"); err == nil {
		t.Fatal("query of a missing table succeeded")
	}
	if _, err := connect(ctx, s.Config(user, marker+"_wrongpw", "")); errNumber(err) != 1045 {
		t.Fatalf("wrong password: got %v, want error 1045", err)
	}
	log, err := s.ReadGeneralLog()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Connect\t" + user + "@127.0.0.1",
		"Query\tDO '" + marker + "_plain'",
		"Execute\tDO '" + marker + "_bound'",
		marker + "_failed",
		"Access denied for user '" + user + "'@'127.0.0.1'",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("general log lacks %q", want)
		}
	}
	// A login sends a scramble, not the password.
	if strings.Contains(log, marker+"_wrongpw") {
		t.Error("general log holds a password sent at login")
	}
	if s.GeneralLogPath() == "" || !strings.HasPrefix(s.GeneralLogPath(), filepath.Dir(s.Socket())) {
		t.Errorf("GeneralLogPath %q is not in the server's directory", s.GeneralLogPath())
	}
}

func TestWithSetting(t *testing.T) {
	t.Parallel()
	s := mysqltest.New(t, mysqltest.WithMaxConnections(17), mysqltest.WithSetting("max_user_connections", "9"))
	if s.External() {
		t.Skip("external server (ROTASAFE_MYSQL_URL): settings not applied")
	}
	db := mustConnect(t, s.Config(s.AdminUser(), s.AdminPassword(), ""))
	var maxConn, maxUser int
	var skipNameResolve, bind string
	if err := db.QueryRowContext(t.Context(), `SELECT @@max_connections, @@max_user_connections, @@skip_name_resolve, @@bind_address`).
		Scan(&maxConn, &maxUser, &skipNameResolve, &bind); err != nil {
		t.Fatal(err)
	}
	if maxConn != 17 || maxUser != 9 || skipNameResolve != "1" || bind != "127.0.0.1" {
		t.Errorf("got max_connections=%d max_user_connections=%d skip_name_resolve=%s bind_address=%s, want 17 9 1 127.0.0.1",
			maxConn, maxUser, skipNameResolve, bind)
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ user, host, want string }{
		{"app", "%", "`app`@`%`"},
		{"a`b", "10.0.0.%", "`a``b`@`10.0.0.%`"},
		{`o'b\`, "localhost", "`o'b\\`@`localhost`"},
	}
	for _, tt := range tests {
		if got := mysqltest.QuoteAccount(tt.user, tt.host); got != tt.want {
			t.Errorf("QuoteAccount(%q, %q) = %s, want %s", tt.user, tt.host, got, tt.want)
		}
	}
}

// TestExternalServer points ROTASAFE_MYSQL_URL at a server and checks that Start then uses it
// instead of starting one, and refuses to stop it.
func TestExternalServer(t *testing.T) {
	if os.Getenv(mysqltest.EnvURL) != "" {
		t.Skip("already running against an external server")
	}
	owner := mysqltest.New(t)
	t.Setenv(mysqltest.EnvURL, "mysql://"+owner.AdminUser()+":"+owner.AdminPassword()+"@"+owner.Host()+":"+
		strconv.Itoa(owner.Port())+"/?sql_mode=%27ANSI_QUOTES%27")
	ctx := t.Context()

	s := mysqltest.New(t)
	if !s.External() {
		t.Fatal("External() = false with ROTASAFE_MYSQL_URL set")
	}
	if s.Port() != owner.Port() || s.Host() != owner.Host() || s.AdminUser() != owner.AdminUser() ||
		s.AdminPassword() != owner.AdminPassword() {
		t.Errorf("got %s@%s:%d, want %s@%s:%d", s.AdminUser(), s.Host(), s.Port(), owner.AdminUser(), owner.Host(), owner.Port())
	}
	for name, fn := range map[string]func(context.Context) error{"Stop": s.Stop, "Start": s.Start, "Restart": s.Restart} {
		if err := fn(ctx); !errors.Is(err, mysqltest.ErrExternal) {
			t.Errorf("%s: got %v, want ErrExternal", name, err)
		}
	}
	if _, err := s.ReadGeneralLog(); err == nil {
		t.Error("ReadGeneralLog on external server: got nil error")
	}

	user := mysqltest.UniqueName("ext")
	if err := s.CreateUser(ctx, user, "pw"); err != nil {
		t.Fatal(err)
	}
	db := mustConnect(t, s.Config(user, "pw", ""))
	var mode string
	if err := db.QueryRowContext(ctx, `SELECT @@SESSION.sql_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "ANSI_QUOTES" {
		t.Errorf("Config dropped the URL's parameters: got sql_mode %q, want ANSI_QUOTES", mode)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close of the external server must leave it running.
	mustConnect(t, owner.Config(user, "pw", ""))
}
