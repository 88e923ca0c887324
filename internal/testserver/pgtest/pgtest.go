// Package pgtest starts throw-away PostgreSQL clusters for tests, benchmarks
// and the demo program. A cluster lives in its own temporary directory, listens
// on 127.0.0.1 on a free port and on a private unix socket directory, and
// authenticates every connection with scram-sha-256; Close stops it and removes
// the directory.
//
// In a test:
//
//	c := pgtest.New(t)
//	if err := c.CreateRole(t.Context(), "app", "s3cret"); err != nil {
//		t.Fatal(err)
//	}
//	conn, err := pgx.Connect(t.Context(), c.ConnString("app", "s3cret", "postgres"))
//
// In a program, Start returns the cluster and the caller must Close it:
//
//	c, err := pgtest.Start(ctx)
//	if err != nil { ... }
//	defer c.Close()
//
// The server binaries (initdb, pg_ctl, postgres) are taken from PATH, or else
// from the highest version under /usr/lib/postgresql/*/bin. initdb refuses to
// run as root, so when the process runs as root the binaries run as the
// postgres user through runuser.
//
// When the environment variable ROTASAFE_PG_URL holds a postgres:// URL with
// superuser credentials, Start and New start nothing and use that server
// instead; Stop, Start and Restart then fail with ErrExternal. Such a server
// is shared by every test that runs against it, so tests must create roles and
// databases under names from UniqueName.
//
// The cluster's directory, its free port, the skip without binaries and the
// watchdog that stops the server and removes the directory when the process
// that started it goes away without Close, however it ends, are package
// testserver's.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe/internal/testserver"
)

// EnvURL names the environment variable that points Start and New at an
// existing server instead of a new cluster. Its value is a postgres:// URL
// whose user is a superuser.
const EnvURL = "ROTASAFE_PG_URL"

// superUser is the name of the superuser initdb creates.
const superUser = "postgres"

var (
	// ErrBinariesNotFound reports that initdb, pg_ctl or postgres was found
	// neither on PATH nor under /usr/lib/postgresql/*/bin.
	ErrBinariesNotFound = testserver.NotInstalled("pgtest: PostgreSQL server binaries not found; install them (Debian: apt-get install postgresql)")

	// ErrExternal is returned by Stop, Start and Restart on a cluster that
	// uses the server named by ROTASAFE_PG_URL, which pgtest does not own.
	ErrExternal = errors.New("pgtest: cannot stop an external server (ROTASAFE_PG_URL)")

	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("pgtest: cluster closed")
)

// Option configures a cluster started by Start or New.
type Option = testserver.Option

// WithURL uses the server at url (a superuser connection URL) instead of
// starting one, as ROTASAFE_PG_URL does; it takes precedence over that
// variable. An empty url leaves the choice to the variable.
func WithURL(url string) Option { return testserver.WithURL(url) }

// WithLogStatements makes the server log every statement it receives
// (log_statement = 'all'), so that tests can read the log with ReadLog and
// check what reached the server, for example that no plaintext password did.
// It has no effect on an external server.
func WithLogStatements() Option {
	return WithSetting("log_statement", "all")
}

// WithSetting sets a postgresql.conf parameter. The value is written quoted,
// as postgresql.conf accepts for every type, so pass it as you would inside
// quotes: WithSetting("shared_buffers", "16MB"). Later settings of the same
// name win. Start rejects names that are not PostgreSQL parameter names. It
// has no effect on an external server.
func WithSetting(name, value string) Option { return testserver.WithSetting(name, value) }

// WithMaxConnections sets max_connections. Values below 1 leave the server's
// default (100) in place.
func WithMaxConnections(n int) Option { return testserver.WithMaxConnections(n) }

// Cluster is a running PostgreSQL server, either one that Start created or
// the external one named by ROTASAFE_PG_URL. Its methods are safe for
// concurrent use.
type Cluster struct {
	host     string
	port     int
	secret   *superSecret // behind a pointer so that %v of a Cluster cannot print it
	base     *url.URL
	external bool // the server named by ROTASAFE_PG_URL

	// Owned clusters only; nil/empty for an external server.
	bin     binaries
	runAs   *testserver.Account // run server binaries as the postgres user (process is root), or nil
	dir     string              // temporary directory holding everything below
	dataDir string
	logPath string

	// Stop (pg_ctl stop -m fast: open connections are terminated), Start, Restart and Close
	// (pg_ctl stop -m immediate, then the directory goes).
	testserver.Lifecycle
}

// Start starts a new cluster, or, when ROTASAFE_PG_URL is set, connects to
// that server and returns a Cluster for it. It returns when the server
// accepts connections. The caller must call Close. An error wrapping
// ErrBinariesNotFound means the server binaries are not installed.
//
// The cluster has a superuser named postgres with a random password, listens
// on 127.0.0.1 on a free port (kept across Stop and Start) and on a unix
// socket in its own directory, and runs with fsync off: it is fast and
// loses its data on a crash, which is all a test needs.
func Start(ctx context.Context, opts ...Option) (*Cluster, error) {
	return testserver.StartDB(ctx, opts, testserver.DB[*Cluster]{Prefix: "pgtest", EnvURL: EnvURL,
		ValidSetting: validSettingName, External: startExternal, Owned: newCluster, Create: (*Cluster).create})
}

// newCluster returns a cluster of pgtest's own for create to start: its binaries found, its
// Lifecycle filled in, and the postgres account to run as when the process is root.
func newCluster() (*Cluster, error) {
	bin, err := findBinaries(debianBinGlob)
	if err != nil {
		return nil, err
	}
	c := &Cluster{host: "127.0.0.1", secret: new(superSecret), bin: bin}
	c.Lifecycle = testserver.Lifecycle{Prefix: "pgtest", ErrClosed: ErrClosed, Up: c.pgCtlStart,
		Down: func(ctx context.Context) error { return c.pgCtlStop(ctx, "fast") }, Kill: c.kill}
	if c.runAs, err = testserver.RunAs(superUser); err != nil {
		return nil, err
	}
	return c, nil
}

// create makes the directory, runs initdb and starts the server, retrying
// with another port when the one it picked was taken meanwhile.
func (c *Cluster) create(ctx context.Context, cfg *testserver.Config) error {
	dir, err := testserver.TempDir("pgtest-", c.runAs != nil)
	if err != nil {
		return err
	}
	c.dir, c.Lifecycle.Dir = dir, dir
	c.dataDir = filepath.Join(dir, "data")
	c.logPath = filepath.Join(dir, "postgres.log")
	sockDir := filepath.Join(dir, "sock")
	if err := os.Mkdir(sockDir, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if c.runAs != nil {
		if err := c.runAs.Chown(dir); err != nil {
			return err
		}
	}
	if c.Dog, err = c.startWatchdog(); err != nil {
		return err
	}

	c.secret.password = randomPassword()
	if err := c.initdb(ctx); err != nil {
		return err
	}

	conf := []string{
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = " + quoteConf(sockDir),
		"fsync = off",
		"synchronous_commit = off",
		"full_page_writes = off",
		"logging_collector = off",
	}
	for _, s := range cfg.Settings {
		conf = append(conf, s[0]+" = "+quoteConf(s[1]))
	}
	if err := appendConf(filepath.Join(c.dataDir, "postgresql.conf"), conf); err != nil {
		return err
	}

	c.port, err = testserver.OnFreePort(func(port int) error {
		c.port = port
		return c.Start(ctx)
	})
	if err != nil {
		return err
	}
	c.setURL()
	return nil
}

// superSecret holds the superuser's credentials.
type superSecret struct {
	password string
	dsn      string // holds the password
}

// String describes the cluster by its address, without credentials.
func (c *Cluster) String() string {
	return testserver.Describe("pgtest", "cluster", c.external, c.host, c.port)
}

// Format prints String for every verb, so that no verb (%#v or %+v
// included) prints the superuser's password.
func (c *Cluster) Format(f fmt.State, verb rune) { io.WriteString(f, c.String()) }

// startExternal returns a Cluster for the server named by ROTASAFE_PG_URL.
// The URL holds a password, so no error repeats it.
func startExternal(ctx context.Context, raw string) (*Cluster, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.User == nil || u.Host == "" {
		return nil, fmt.Errorf("pgtest: %s must be a postgres://user:password@host:port/db URL", EnvURL)
	}
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %s does not parse as a connection string", EnvURL)
	}
	c := &Cluster{
		host:     cfg.Host,
		port:     int(cfg.Port),
		secret:   &superSecret{password: cfg.Password, dsn: raw},
		base:     u,
		external: true,
	}
	c.Lifecycle.External = ErrExternal
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgtest: connect to %s server: %w", EnvURL, err)
	}
	conn.Close(ctx)
	return c, nil
}

// setURL builds the superuser DSN and the base URL ConnString starts from.
func (c *Cluster) setURL() {
	c.base = &url.URL{
		Scheme:   "postgres",
		Host:     net.JoinHostPort(c.host, strconv.Itoa(c.port)),
		RawQuery: "sslmode=disable",
	}
	c.secret.dsn = c.ConnString(superUser, c.secret.password, "postgres")
}

// External reports whether the cluster is the server named by
// ROTASAFE_PG_URL rather than one that pgtest started. Tests that need
// Stop, Start or Restart skip when it is true.
func (c *Cluster) External() bool { return c.external }

// DSN returns a postgres:// URL that connects as the superuser to the
// postgres database.
func (c *Cluster) DSN() string { return c.secret.dsn }

// Host returns the host the server listens on (127.0.0.1 for a cluster that
// pgtest started).
func (c *Cluster) Host() string { return c.host }

// Port returns the TCP port the server listens on. It does not change across
// Stop and Start.
func (c *Cluster) Port() int { return c.port }

// SuperUser returns the superuser's name.
func (c *Cluster) SuperUser() string {
	if c.External() {
		return c.base.User.Username()
	}
	return superUser
}

// SuperPassword returns the superuser's password. It exists for tests and
// demos that need to hand the superuser's credentials on, for instance as
// the master secret of a rotation; never log it.
func (c *Cluster) SuperPassword() string { return c.secret.password }

// LogPath returns the path of the server's log file, or "" for an external
// server.
func (c *Cluster) LogPath() string { return c.logPath }

// ReadLog returns the whole server log.
func (c *Cluster) ReadLog() (string, error) {
	if c.External() {
		return "", errors.New("pgtest: no log for an external server (ROTASAFE_PG_URL)")
	}
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return "", fmt.Errorf("pgtest: read log: %w", err)
	}
	return string(b), nil
}

// kill stops the server at once (pg_ctl stop -m immediate), for Close: even when it seems
// stopped, since a failed Start may have left a postmaster behind; pg_ctl then fails harmlessly.
func (c *Cluster) kill() error {
	if c.dataDir == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.pgCtlStop(ctx, "immediate")
}
