// Command demo shows what rotasafe is for: an application keeps querying PostgreSQL through
// a database/sql connector while the database password is rotated again and again, and no
// query fails.
//
// It starts an in-process Secrets Manager (smtest) and a throw-away PostgreSQL cluster
// (or uses -pg-url), stores the app's credentials as a secret, opens a *sql.DB through
// sqlconn, runs worker goroutines that query it (many on fresh connections, so logins really
// happen), and rotates the secret every few seconds with package rotate. At the end it
// prints a summary and exits with status 1 if any error reached the application.
//
//	go run ./examples/demo                          # 30 s, single user
//	go run ./examples/demo -strategy alternating    # alternating users with a master secret
//	go run ./examples/demo -engine mariadb -strategy dual   # MariaDB: single, alternating or dual
//	go run ./examples/demo -client pgxpool          # the workers query a pgx pool (pgxpoolconn)
//	go run ./examples/demo -json > summary.json     # machine-readable summary
//	go run ./examples/demo -notices redis           # the rotator announces; no login is rejected
//	go run ./examples/demo -metrics 127.0.0.1:9464  # OpenTelemetry metrics for Prometheus at /metrics
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
)

// Exit statuses.
const (
	exitOK        = 0
	exitAppErrors = 1 // an error reached the application, or a rotation failed
	exitSetup     = 2 // the demo could not start (no PostgreSQL, bad flags)
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return exitSetup
	}
	// The library logs each rotation step and version change at Info to slog.Default; the
	// demo's own status lines say the same, so only warnings and errors go to stderr.
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if cfg.metrics != "" {
		m, err := serveMetrics(cfg.metrics)
		if err != nil {
			return setupFailed(stderr, err)
		}
		defer m.Close()
		fmt.Fprintln(stderr, "demo: metrics at", m.URL)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// The live status goes to the terminal when there is one; with -json it goes to stderr
	// so stdout holds only the summary.
	statusOut := stdout
	if cfg.json {
		statusOut = stderr
	}
	sum, err := run(ctx, cfg, newStatus(statusOut, isTerminal(statusOut)))
	if err != nil {
		return setupFailed(stderr, err)
	}
	if cfg.json {
		if err := sum.writeJSON(stdout); err != nil {
			fmt.Fprintln(stderr, "demo:", err)
			return exitSetup
		}
	} else {
		sum.writeTable(stdout)
	}
	if sum.AppErrors > 0 || sum.RotationErrors > 0 {
		return exitAppErrors
	}
	return exitOK
}

// setupFailed explains why the demo could not start and returns its exit status.
func setupFailed(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "demo:", err)
	if errors.Is(err, mysqltest.ErrBinariesNotFound) {
		fmt.Fprintln(stderr, "demo: install the MariaDB server (Debian: apt-get install mariadb-server),"+
			" or set "+mysqltest.EnvURL+" to a mysql:// URL of a server where the demo may create users")
	}
	if errors.Is(err, pgtest.ErrBinariesNotFound) {
		fmt.Fprintln(stderr, "demo: install the PostgreSQL server (Debian: apt-get install postgresql),"+
			" or pass -pg-url postgres://user:password@host:port/db for a server where the demo may create roles")
	}
	return exitSetup
}

type config struct {
	duration    time.Duration
	rotateEvery time.Duration
	workers     int
	strategy    string
	engine      string
	client      string
	pgURL       string
	json        bool
	notices     string // "" or noticesRedis
	metrics     string // -metrics: where to serve Prometheus metrics, or ""

	// stop, when set (tests do), is polled during the run with what it has done so far and
	// ends the run once it returns true; duration then only bounds a run that hangs.
	stop func(progress) bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&cfg.duration, "duration", 30*time.Second, "how long the application runs")
	fs.DurationVar(&cfg.rotateEvery, "rotate-every", 2*time.Second, "time between the start of one rotation and the next")
	fs.IntVar(&cfg.workers, "workers", 8, "goroutines issuing queries")
	fs.StringVar(&cfg.strategy, "strategy", "single", "rotation strategy: single (one user, one password), alternating (two users, a master secret) or, on mariadb, dual (one user, two passwords)")
	fs.StringVar(&cfg.engine, "engine", enginePostgres, "database: postgres or mariadb (a throw-away server, or the one "+mysqltest.EnvURL+" names)")
	fs.StringVar(&cfg.client, "client", clientSQL, "what the workers query through: sql (database/sql over sqlconn) or pgxpool (a pgx pool configured by pgxpoolconn; postgres only)")
	fs.StringVar(&cfg.pgURL, "pg-url", "", "use this PostgreSQL server (a superuser URL) instead of starting one")
	fs.BoolVar(&cfg.json, "json", false, "print the summary as JSON on stdout (status lines go to stderr)")
	fs.StringVar(&cfg.notices, "notices", "", "send rotation notices from the rotator to the application: redis (a throw-away redis-server), or none")
	fs.StringVar(&cfg.metrics, "metrics", "", "serve OpenTelemetry metrics in Prometheus format at http://ADDR/metrics (host:port)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var bad error
	switch {
	case fs.NArg() > 0:
		bad = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.duration <= 0:
		bad = errors.New("-duration must be positive")
	case cfg.rotateEvery <= 0:
		bad = errors.New("-rotate-every must be positive")
	case cfg.workers < 1:
		bad = errors.New("-workers must be at least 1")
	case cfg.notices != "" && cfg.notices != "none" && cfg.notices != noticesRedis:
		bad = fmt.Errorf("-notices must be redis or none, not %q", cfg.notices)
	case cfg.client != clientSQL && cfg.client != clientPgxpool:
		bad = fmt.Errorf("-client must be sql or pgxpool, not %q", cfg.client)
	case cfg.client == clientPgxpool && cfg.engine == engineMariaDB:
		bad = errors.New("-client pgxpool needs -engine postgres")
	case cfg.engine != enginePostgres && cfg.engine != engineMariaDB:
		bad = fmt.Errorf("-engine must be postgres or mariadb, not %q", cfg.engine)
	case cfg.strategy == "dual" && cfg.engine != engineMariaDB:
		bad = errors.New("-strategy dual needs -engine mariadb")
	case cfg.strategy != "single" && cfg.strategy != "alternating" && cfg.engine == enginePostgres:
		bad = fmt.Errorf("-strategy must be single or alternating, not %q", cfg.strategy)
	case cfg.strategy != "single" && cfg.strategy != "alternating" && cfg.strategy != "dual":
		bad = fmt.Errorf("-strategy must be single, alternating or dual, not %q", cfg.strategy)
	}
	if bad != nil {
		fmt.Fprintln(stderr, "demo:", bad)
		fs.Usage()
	}
	return cfg, bad
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}
