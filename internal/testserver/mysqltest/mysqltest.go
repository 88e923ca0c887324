// Package mysqltest starts throw-away MariaDB servers for tests, benchmarks and the demo
// program. A server lives in its own temporary directory, listens on 127.0.0.1 on a free port
// and on a private unix socket, authenticates every login for real (no skip-grant-tables), and
// writes every statement it receives to a general log that tests can search for plaintext
// passwords; Close stops it and removes the directory.
//
// In a test:
//
//	s := mysqltest.New(t)
//	if err := s.CreateUser(t.Context(), "app", "s3cret"); err != nil {
//		t.Fatal(err)
//	}
//	db, err := sql.Open("mysql", s.ConnString("app", "s3cret", ""))
//
// In a program, Start returns the server and the caller must Close it:
//
//	s, err := mysqltest.Start(ctx)
//	if err != nil { ... }
//	defer s.Close()
//
// The server binaries (mariadbd and mariadb-install-db, or the older mysqld and
// mysql_install_db names) are taken from PATH, /usr/sbin or /usr/bin. When the process runs as
// root they run as the mysql user. Each server has an admin account (AdminUser, with every
// privilege and GRANT OPTION) with a random password, created from its mysql_native_password
// hash so that the password itself never reaches the server.
//
// When the environment variable ROTASAFE_MYSQL_URL holds a mysql:// URL of an account with
// every privilege, Start and New start nothing and use that server instead; Stop, Start and
// Restart then fail with ErrExternal and there is no general log. Such a server is shared by
// every test that runs against it, so tests must create users and databases under names from
// UniqueName. The MariaDB service a machine may run on port 3306 is not meant for this: its
// root account logs in without a password, which proves nothing about authentication.
//
// The server's directory (on a RAM disk where there is one), its free port, the skip without
// binaries and the watchdog that kills the server and removes the directory when the process
// that started it goes away without Close, however it ends, are package testserver's.
package mysqltest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rotasafe/rotasafe/internal/testserver"
)

// EnvURL names the environment variable that points Start and New at an existing server
// instead of a new one. Its value is a URL such as
// mysql://admin:password@127.0.0.1:3307/?tls=skip-verify whose user has every privilege with
// GRANT OPTION; query parameters are go-sql-driver/mysql DSN parameters.
const EnvURL = "ROTASAFE_MYSQL_URL"

// adminUser is the name of the admin account Start creates.
const adminUser = "admin"

var (
	// ErrBinariesNotFound reports that mariadbd or mariadb-install-db was not found.
	ErrBinariesNotFound = testserver.NotInstalled("mysqltest: MariaDB server binaries (mariadbd, mariadb-install-db) not found; install them (Debian: apt-get install mariadb-server)")

	// ErrExternal is returned by Stop, Start and Restart on a server named by
	// ROTASAFE_MYSQL_URL, which mysqltest does not own.
	ErrExternal = errors.New("mysqltest: cannot stop an external server (ROTASAFE_MYSQL_URL)")

	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("mysqltest: server closed")
)

// Option configures a server started by Start or New.
type Option = testserver.Option

// WithURL uses the server at url (see EnvURL) instead of starting one, as ROTASAFE_MYSQL_URL
// does; it takes precedence over that variable. An empty url leaves the choice to the
// variable.
func WithURL(url string) Option { return testserver.WithURL(url) }

// WithSetting passes a server option to mariadbd as --name=value, for example
// WithSetting("max_user_connections", "5"). Later settings of the same name win. Start rejects
// names that are not option names. It has no effect on an external server.
func WithSetting(name, value string) Option { return testserver.WithSetting(name, value) }

// WithMaxConnections sets max_connections. Values below 1 leave the server's default (151)
// in place; MariaDB raises values below 10 to 10. MariaDB lets one more connection in for an
// account with the SUPER or CONNECTION ADMIN privilege, such as the admin account.
func WithMaxConnections(n int) Option { return testserver.WithMaxConnections(n) }

// Server is a running MariaDB server, either one that Start created or the external one named
// by ROTASAFE_MYSQL_URL. Its methods are safe for concurrent use.
type Server struct {
	host     string
	port     int
	admin    string        // the admin account's user name
	secret   *adminSecret  // behind a pointer so that %v of a Server cannot print it
	base     *mysql.Config // address and parameters every Config starts from; no credentials
	external bool          // the server named by ROTASAFE_MYSQL_URL

	// Owned servers only; empty for an external server.
	bin        binaries
	runAs      *testserver.Account // run the server binaries as this user (process is root), or nil
	dir        string              // temporary directory holding everything below
	dataDir    string
	socket     string
	pidPath    string
	errLogPath string
	genLogPath string
	args       []string            // mariadbd's arguments
	proc       *testserver.Process // the running mariadbd, or nil when stopped; guarded by the Lifecycle's lock

	// Stop (SIGTERM: open connections are closed), Start, Restart and Close (SIGKILL, then
	// the directory goes).
	testserver.Lifecycle
}

// adminSecret holds the admin account's password.
type adminSecret struct{ password string }

// Start starts a new server, or, when ROTASAFE_MYSQL_URL is set, connects to that server and
// returns a Server for it. It returns when the server accepts logins. The caller must call
// Close. An error wrapping ErrBinariesNotFound means the server binaries are not installed.
func Start(ctx context.Context, opts ...Option) (*Server, error) {
	return testserver.StartDB(ctx, opts, testserver.DB[*Server]{Prefix: "mysqltest", EnvURL: EnvURL,
		ValidSetting: validSettingName, External: startExternal, Owned: newServer, Create: (*Server).create})
}

// newServer returns a server of mysqltest's own for create to start: its binaries found, its
// Lifecycle filled in, and the mysql account to run as when the process is root.
func newServer() (*Server, error) {
	bin, err := findBinaries(searchDirs)
	if err != nil {
		return nil, err
	}
	s := &Server{host: "127.0.0.1", admin: adminUser, secret: new(adminSecret), bin: bin}
	s.Lifecycle = testserver.Lifecycle{Prefix: "mysqltest", ErrClosed: ErrClosed, Up: s.startServer, Down: s.stopServer, Kill: s.killServer}
	if s.runAs, err = testserver.RunAs("mysql"); err != nil {
		return nil, err
	}
	return s, nil
}

// validSettingName matches mariadbd option names such as max_connections or
// innodb-buffer-pool-size.
var validSettingName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]*$`).MatchString

// create makes the directory, installs the system tables with the admin account and starts
// the server, retrying with another port when the one it picked was taken meanwhile.
func (s *Server) create(ctx context.Context, cfg *testserver.Config) error {
	dir, err := testserver.TempDir("mysqltest-", s.runAs != nil)
	if err != nil {
		return err
	}
	s.dir, s.Lifecycle.Dir = dir, dir
	s.dataDir = dir + "/data"
	s.socket = dir + "/mysqld.sock"
	s.pidPath = dir + "/mysqld.pid"
	s.errLogPath = dir + "/error.log"
	s.genLogPath = dir + "/general.log"
	if err := s.writeConf(); err != nil {
		return err
	}
	if s.runAs != nil {
		if err := s.runAs.Chown(dir); err != nil {
			return err
		}
	}
	// mariadbd writes its pid file, with the directory on its command line.
	if s.Dog, err = testserver.WatchPID(s.pidPath, dir); err != nil {
		return err
	}

	s.secret.password = randomPassword()
	if err := s.installDB(ctx); err != nil {
		// mariadb-install-db fails now and then on a loaded machine with nothing on its
		// output (its bootstrap server logs to the error log): try once more on a clean
		// data directory before giving up with both logs.
		if rerr := os.RemoveAll(s.dataDir); rerr != nil {
			return err
		}
		if err2 := s.installDB(ctx); err2 != nil {
			return fmt.Errorf("%w (first attempt: %v)", err2, err)
		}
	}

	s.args = []string{
		"--defaults-file=" + s.confPath(),
		"--general-log=1",
		"--general-log-file=" + s.genLogPath,
		"--log-output=FILE",
	}
	for _, kv := range cfg.Settings {
		s.args = append(s.args, "--"+kv[0]+"="+kv[1])
	}

	s.port, err = testserver.OnFreePort(func(port int) error {
		s.port = port
		s.setBase()
		return s.Start(ctx)
	})
	return err
}

// setBase sets the address every Config starts from.
func (s *Server) setBase() {
	b := mysql.NewConfig()
	b.Net = "tcp"
	b.Addr = net.JoinHostPort(s.host, strconv.Itoa(s.port))
	b.Logger = &mysql.NopLogger{}
	s.base = b
}

// String describes the server by its address, without credentials.
func (s *Server) String() string {
	return testserver.Describe("mysqltest", "server", s.external, s.host, s.port)
}

// Format prints String for every verb, so that no verb (%#v or %+v included) prints the
// admin password.
func (s *Server) Format(f fmt.State, verb rune) { io.WriteString(f, s.String()) }

// startExternal returns a Server for the server named by ROTASAFE_MYSQL_URL. The URL holds a
// password, so no error repeats it.
func startExternal(ctx context.Context, raw string) (*Server, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "mysql" && u.Scheme != "mariadb") || u.User == nil || u.Host == "" {
		return nil, fmt.Errorf("mysqltest: %s must be a mysql://user:password@host:port/ URL", EnvURL)
	}
	password, _ := u.User.Password()
	host, portStr := u.Hostname(), u.Port()
	if portStr == "" {
		portStr = "3306"
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("mysqltest: %s has a port that is not a number", EnvURL)
	}
	base, err := mysql.ParseDSN("/?" + u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("mysqltest: %s has query parameters that go-sql-driver/mysql rejects: %w", EnvURL, err)
	}
	base.Net, base.Addr, base.Logger = "tcp", net.JoinHostPort(host, portStr), &mysql.NopLogger{}
	base.TLS = nil // rebuilt for the real address by mysql.NewConnector
	s := &Server{
		host:     host,
		port:     port,
		admin:    u.User.Username(),
		secret:   &adminSecret{password: password},
		base:     base,
		external: true,
	}
	s.Lifecycle.External = ErrExternal
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.ping(ctx); err != nil {
		return nil, fmt.Errorf("mysqltest: connect to %s server: %w", EnvURL, err)
	}
	return s, nil
}

// External reports whether the server is the one named by ROTASAFE_MYSQL_URL rather than one
// that mysqltest started. Tests that need Stop, Start, Restart or the general log skip when it
// is true.
func (s *Server) External() bool { return s.external }

// Host returns the host the server listens on (127.0.0.1 for a server mysqltest started).
func (s *Server) Host() string { return s.host }

// Port returns the TCP port the server listens on. It does not change across Stop and Start.
func (s *Server) Port() int { return s.port }

// Socket returns the path of the server's unix socket, or "" for an external server. Over the
// socket a client is at host localhost rather than 127.0.0.1.
func (s *Server) Socket() string { return s.socket }

// AdminUser returns the name of the admin account, which holds every privilege with GRANT
// OPTION at host '%'.
func (s *Server) AdminUser() string { return s.admin }

// AdminPassword returns the admin account's password. It exists for tests and demos that need
// to hand the admin's credentials on, for instance as the master secret of a rotation; never
// log it.
func (s *Server) AdminPassword() string { return s.secret.password }

// DSN returns a go-sql-driver/mysql data source name that logs in as the admin over TCP, with
// no default database.
func (s *Server) DSN() string { return s.ConnString(s.admin, s.secret.password, "") }

// Config returns a go-sql-driver/mysql configuration that logs in to database db (none when
// empty) as user with password over TCP, for mysql.NewConnector. It is a fresh copy each time.
func (s *Server) Config(user, password, db string) *mysql.Config {
	c := s.base.Clone()
	c.User, c.Passwd, c.DBName = user, password, db
	return c
}

// ConnString returns Config(user, password, db) as a data source name for sql.Open("mysql",
// ...). The driver's DSN syntax cannot hold a user name with a colon; use Config with
// mysql.NewConnector for such names.
func (s *Server) ConnString(user, password, db string) string {
	return s.Config(user, password, db).FormatDSN()
}

// GeneralLogPath returns the path of the server's general log, which holds every statement the
// server received, or "" for an external server.
func (s *Server) GeneralLogPath() string { return s.genLogPath }

// ErrorLogPath returns the path of the server's error log, or "" for an external server.
func (s *Server) ErrorLogPath() string { return s.errLogPath }

// ReadGeneralLog returns the whole general log: every login (user, host, database) and every
// statement, with its text as the server received it, of every session since the server
// started. Tests search it for plaintext passwords.
func (s *Server) ReadGeneralLog() (string, error) { return s.readLog("general log", s.genLogPath) }

// ReadErrorLog returns the whole error log (startup, shutdown, warnings).
func (s *Server) ReadErrorLog() (string, error) { return s.readLog("error log", s.errLogPath) }

// readLog returns the whole log named what at path.
func (s *Server) readLog(what, path string) (string, error) {
	if s.external {
		return "", fmt.Errorf("mysqltest: no %s for an external server (ROTASAFE_MYSQL_URL)", what)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("mysqltest: read %s: %w", what, err)
	}
	return string(b), nil
}

// stopServer shuts mariadbd down (SIGTERM) and waits until it has exited.
func (s *Server) stopServer(ctx context.Context) error {
	if err := s.proc.Stop(ctx); err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	s.proc = nil
	return nil
}

// killServer kills mariadbd (SIGKILL), for Close.
func (s *Server) killServer() error {
	if s.proc != nil {
		s.proc.Kill()
		s.proc = nil
	}
	return nil
}

// openAdmin opens a *sql.DB that logs in as the admin. The caller closes it.
func (s *Server) openAdmin() (*sql.DB, error) {
	conn, err := mysql.NewConnector(s.Config(s.admin, s.secret.password, ""))
	if err != nil {
		return nil, fmt.Errorf("mysqltest: admin connector: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxIdleConns(1)
	return db, nil
}

// ping logs in as the admin once.
func (s *Server) ping(ctx context.Context) error {
	db, err := s.openAdmin()
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}
