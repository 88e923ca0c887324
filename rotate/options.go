package rotate

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/metric"

	"github.com/rotasafe/rotasafe/internal/logopt"
	"github.com/rotasafe/rotasafe/internal/option"
	"github.com/rotasafe/rotasafe/notice"
)

// Option configures a [Handler]: where it logs and how it generates passwords. An invalid
// value makes NewHandler panic with a message that names the option and the value.
type Option func(*handlerConfig)

type handlerConfig struct {
	logger  *slog.Logger // unset: slog.Default(), read at log time (logopt)
	pw      passwordPolicy
	notices notice.Publisher     // nil: no notices
	meters  metric.MeterProvider // nil: otel.GetMeterProvider() when NewHandler runs
	lead    time.Duration        // WithNoticeLead; 0: no announcing ahead
	settle  time.Duration        // WithNoticeSettle
}

func newHandlerConfig(opts []Option) handlerConfig {
	c := handlerConfig{pw: passwordPolicy{length: DefaultPasswordLength, exclude: DefaultExcludeCharacters}, settle: DefaultNoticeSettle}
	option.Apply(&c, opts)
	return c
}

// Password lengths accepted by WithPasswordLength. GetRandomPassword allows 1-4096; a rotated
// database password shorter than 8 characters is a mistake.
const (
	MinPasswordLength     = 8
	MaxPasswordLength     = 4096
	DefaultPasswordLength = 32
)

// DefaultExcludeCharacters are the characters generated passwords leave out by default, as
// AWS's rotation templates do: they break connection strings and URLs. Whitespace is always
// left out as well.
const DefaultExcludeCharacters = `:/@"'\`

// WithLogger makes the Handler log each step (secret, token, step, outcome; never a value) to
// l instead of slog.Default(). A nil l discards the log.
func WithLogger(l *slog.Logger) Option { return func(c *handlerConfig) { c.logger = logopt.Given(l) } }

// WithMeterProvider makes the Handler record its steps (rotasafe.rotation.steps and
// rotasafe.rotation.step.duration) and the notices it publishes (rotasafe.notices.published)
// with mp instead of OpenTelemetry's global MeterProvider, which NewHandler reads when it
// runs (instruments made before the application installs its provider are handed over to
// it). A nil mp keeps the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *handlerConfig) { c.meters = mp }
}

// WithPasswordLength sets the length of generated passwords, MinPasswordLength to
// MaxPasswordLength. Zero keeps DefaultPasswordLength.
func WithPasswordLength(n int) Option {
	return func(c *handlerConfig) {
		if n == 0 {
			return
		}
		if n < MinPasswordLength || n > MaxPasswordLength {
			panic(fmt.Sprintf("rotate: WithPasswordLength(%d): password length %d is outside %d-%d", n, n, MinPasswordLength, MaxPasswordLength))
		}
		c.pw.length = n
	}
}

// WithExcludeCharacters sets the characters generated passwords leave out, replacing
// DefaultExcludeCharacters; whitespace is always left out. An empty string excludes nothing
// but whitespace. Excluding every letter, digit and punctuation character is invalid.
func WithExcludeCharacters(chars string) Option {
	return func(c *handlerConfig) {
		if len(alphabet(chars)) == 0 {
			panic(fmt.Sprintf("rotate: WithExcludeCharacters(%q): leaves no character to make a password of", chars))
		}
		c.pw.exclude = chars
	}
}

// WithRandomPasswordAPI makes passwords come from Secrets Manager's GetRandomPassword (one
// API call per rotation, as AWS's templates do) instead of crypto/rand in process, the
// default.
func WithRandomPasswordAPI() Option {
	return func(c *handlerConfig) { c.pw.useAPI = true }
}

// DBOption configures a database strategy ([PostgresSingleUser], [PostgresAlternatingUsers],
// [MySQLSingleUser], [MySQLAlternatingUsers], [MySQLDualPassword]):
// how it connects and which user changes passwords. An invalid value, or an option the
// strategy has no use for, makes the strategy's constructor panic with a message that names
// the option and the value.
type DBOption func(*dbConfig)

type dbConfig struct {
	cloneSuffix    string // "" until WithCloneSuffix; the strategy fills its default
	tls            TLSMode
	throughAdmin   bool
	connectTimeout time.Duration
	hook           stmtHook  // test seam: runs before every connect and statement
	myHook         mysqlHook // the same for the MySQL strategies
}

// Defaults of the database strategies.
const (
	defaultCloneSuffix    = "_clone"
	defaultConnectTimeout = 5 * time.Second
)

// newDBConfig applies opts for the strategy named name. alternating says whether it has a
// clone user, which WithCloneSuffix names.
func newDBConfig(name string, alternating bool, opts []DBOption) dbConfig {
	c := dbConfig{tls: TLSPreferVerified, connectTimeout: defaultConnectTimeout}
	option.Apply(&c, opts)
	switch {
	case c.cloneSuffix != "" && !alternating:
		panic(fmt.Sprintf("rotate: WithCloneSuffix(%q): %s keeps one user and has no clone to name", c.cloneSuffix, name))
	case c.cloneSuffix == "":
		c.cloneSuffix = defaultCloneSuffix
	}
	return c
}

// stmtHook runs before each database operation a PostgreSQL strategy makes: a connect (conn
// is nil) or a statement on conn. A non-nil error aborts the operation with that error.
type stmtHook func(ctx context.Context, conn *pgx.Conn, op string) error

// WithCloneSuffix sets the suffix an alternating-users strategy appends to the username to
// name the second user ("_clone" by default, as AWS's template). It must be 1 to 32 bytes.
// Single-user strategies have no second user and refuse it.
func WithCloneSuffix(suffix string) DBOption {
	return func(c *dbConfig) {
		c.cloneSuffix = option.CloneSuffix("rotate", "WithCloneSuffix", suffix)
	}
}

// TLSMode says how a database strategy secures its connections. The modes are named after
// libpq's sslmode; the MySQL strategies give them the same meaning (verify-ca checks the
// certificate chain but not the host name; prefer and require do not verify).
type TLSMode string

const (
	// TLSPreferVerified, the default, connects with TLS and full certificate verification
	// (sslmode=verify-full) and falls back to a plain connection when that fails, as AWS's
	// rotation templates do for a secret without an "ssl" key.
	TLSPreferVerified TLSMode = ""
	// TLSFromSecret takes the mode from the secret's "sslmode" field (or "ssl": true for
	// verify-full, false for disable), and TLSPreferVerified when there is neither.
	TLSFromSecret TLSMode = "secret"
	// TLSDisable, TLSRequire, TLSVerifyCA and TLSVerifyFull are libpq's sslmodes of the same
	// names; TLSPrefer is libpq's prefer (TLS without verification, else plain).
	TLSDisable    TLSMode = "disable"
	TLSPrefer     TLSMode = "prefer"
	TLSRequire    TLSMode = "require"
	TLSVerifyCA   TLSMode = "verify-ca"
	TLSVerifyFull TLSMode = "verify-full"
)

// WithTLSMode sets how the strategy secures its connections (TLSPreferVerified by default).
func WithTLSMode(m TLSMode) DBOption {
	return func(c *dbConfig) {
		switch m {
		case TLSPreferVerified, TLSFromSecret, TLSDisable, TLSPrefer, TLSRequire, TLSVerifyCA, TLSVerifyFull:
			c.tls = m
		default:
			panic(fmt.Sprintf("rotate: WithTLSMode(%q): unknown TLS mode", string(m)))
		}
	}
}

// WithAdminSecret makes a single-user strategy change the password as the user named by the
// secret's masterarn, for services where a user may not change its own password (RDS with
// rds_password restrictions). The user must still prove it owns the secret: its current or
// previous password must log in. Alternating-users strategies always work this way.
func WithAdminSecret() DBOption {
	return func(c *dbConfig) { c.throughAdmin = true }
}

// WithConnectTimeout bounds each connection attempt to the database (5 seconds, as AWS's
// templates' connect_timeout). Zero keeps the default; a negative d is invalid.
func WithConnectTimeout(d time.Duration) DBOption {
	return func(c *dbConfig) {
		if option.Duration("rotate", "WithConnectTimeout", "connect timeout", d) {
			c.connectTimeout = d
		}
	}
}

// withStmtHook installs the test seam that runs before every database operation.
func withStmtHook(h stmtHook) DBOption {
	return func(c *dbConfig) { c.hook = h }
}
