package rotate

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Option configures a Handler (NewHandler) or a PostgreSQL strategy (PostgresSingleUser,
// PostgresAlternatingUsers). One type serves both so that a password knob can go to either:
// given to NewHandler it sets the default of [StepContext.NewPassword] for every strategy;
// given to a strategy it overrides that default for the strategy. Options a receiver has no use
// for are ignored (WithCloneSuffix means nothing to NewHandler, WithLogger nothing to a
// strategy). An invalid value makes every step fail with an error that names the option.
type Option func(*config)

// config holds every knob; each receiver reads its own.
type config struct {
	// Handler.
	logger *slog.Logger

	// Both: password generation. Zero values mean "not set here".
	pw passwordPolicy

	// PostgreSQL strategies.
	cloneSuffix    string
	tls            TLSMode
	throughAdmin   bool
	connectTimeout time.Duration
	hook           stmtHook  // test seam: runs before every connect and statement
	myHook         mysqlHook // the same for the MySQL strategies

	err error // first invalid option
}

// stmtHook runs before each database operation a PostgreSQL strategy makes: a connect (conn
// is nil) or a statement on conn. A non-nil error aborts the operation with that error.
type stmtHook func(ctx context.Context, conn *pgx.Conn, op string) error

func newConfig(opts []Option) config {
	c := config{
		cloneSuffix:    "_clone",
		tls:            TLSPreferVerified,
		connectTimeout: 5 * time.Second,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

func (c *config) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("rotate: invalid option: "+format, args...)
	}
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
// l. By default the handler does not log. A nil l keeps the default.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithPasswordLength sets the length of generated passwords, MinPasswordLength to
// MaxPasswordLength (DefaultPasswordLength when not set). Zero keeps the default; other values
// outside the range are an error.
func WithPasswordLength(n int) Option {
	return func(c *config) {
		switch {
		case n == 0:
		case n < MinPasswordLength || n > MaxPasswordLength:
			c.fail("password length %d is outside %d-%d", n, MinPasswordLength, MaxPasswordLength)
		default:
			c.pw.length = n
		}
	}
}

// WithExcludeCharacters sets the characters generated passwords leave out, replacing
// DefaultExcludeCharacters; whitespace is always left out. An empty string excludes nothing
// but whitespace. Excluding every letter, digit and punctuation character is an error.
func WithExcludeCharacters(chars string) Option {
	return func(c *config) {
		if len(alphabet(chars)) == 0 {
			c.fail("excluded characters leave no character to make a password of")
			return
		}
		c.pw.exclude = &chars
	}
}

// WithRandomPasswordAPI makes passwords come from Secrets Manager's GetRandomPassword (one
// API call per rotation, as AWS's templates do) instead of crypto/rand in process, the
// default.
func WithRandomPasswordAPI() Option {
	return func(c *config) {
		t := true
		c.pw.useAPI = &t
	}
}

// WithCloneSuffix sets the suffix PostgresAlternatingUsers appends to the username to name
// the second user ("_clone" by default, as AWS's template). It must be 1 to 32 bytes.
func WithCloneSuffix(suffix string) Option {
	return func(c *config) {
		if suffix == "" || len(suffix) > 32 {
			c.fail("clone suffix must be 1 to 32 bytes, got %d", len(suffix))
			return
		}
		c.cloneSuffix = suffix
	}
}

// TLSMode says how a PostgreSQL strategy secures its connections.
type TLSMode string

const (
	// TLSPreferVerified, the default, connects with TLS and full certificate verification
	// (sslmode=verify-full) and falls back to a plain connection when that fails, as AWS's
	// rotation templates do for a secret without an "ssl" key.
	TLSPreferVerified TLSMode = ""
	// TLSFromSecret takes the libpq sslmode from the secret's "sslmode" field (or "ssl": true
	// for verify-full, false for disable), and TLSPreferVerified when there is neither.
	TLSFromSecret TLSMode = "secret"
	// TLSDisable, TLSRequire, TLSVerifyCA and TLSVerifyFull are libpq's sslmodes of the same
	// names; TLSPrefer is libpq's prefer (TLS without verification, else plain).
	TLSDisable    TLSMode = "disable"
	TLSPrefer     TLSMode = "prefer"
	TLSRequire    TLSMode = "require"
	TLSVerifyCA   TLSMode = "verify-ca"
	TLSVerifyFull TLSMode = "verify-full"
)

// WithTLSMode sets how PostgreSQL strategies secure their connections (TLSPreferVerified by
// default). Unknown modes are an error.
func WithTLSMode(m TLSMode) Option {
	return func(c *config) {
		switch m {
		case TLSPreferVerified, TLSFromSecret, TLSDisable, TLSPrefer, TLSRequire, TLSVerifyCA, TLSVerifyFull:
			c.tls = m
		default:
			c.fail("unknown TLS mode %q", string(m))
		}
	}
}

// WithAdminSecret makes PostgresSingleUser change the password as the user named by the
// secret's masterarn, for services where a user may not change its own password (RDS with
// rds_password restrictions). The user must still prove it owns the secret: its current or
// previous password must log in.
func WithAdminSecret() Option {
	return func(c *config) { c.throughAdmin = true }
}

// WithConnectTimeout bounds each connection attempt to PostgreSQL (5 seconds by default, as
// AWS's templates' connect_timeout). Zero keeps the default; negative values are an error.
func WithConnectTimeout(d time.Duration) Option {
	return func(c *config) {
		switch {
		case d == 0:
		case d < 0:
			c.fail("negative connect timeout %v", d)
		default:
			c.connectTimeout = d
		}
	}
}

// withStmtHook installs the test seam that runs before every database operation.
func withStmtHook(h stmtHook) Option {
	return func(c *config) { c.hook = h }
}
