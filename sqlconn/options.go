package sqlconn

import (
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/rotasafe/rotasafe/retry"
)

// Defaults of a Connector.
const (
	// DefaultMaxElapsed bounds one Connect call under DefaultPolicy: credentials that no
	// staging label fixes, or a database that stays down, fail after about this long.
	DefaultMaxElapsed = 5 * time.Second
	// DefaultConnectTimeout bounds one login attempt (dial, TLS and authentication).
	DefaultConnectTimeout = 10 * time.Second
)

// DefaultPolicy returns the retry policy a Connector uses unless WithRetry says otherwise:
// retry.Default's jittered waits (50ms doubling up to 2s, full jitter) with MaxElapsed
// lowered to DefaultMaxElapsed, so that a connect with wrong credentials fails within
// seconds rather than holding a pool slot.
func DefaultPolicy() retry.Policy {
	p := retry.Default()
	p.MaxElapsed = DefaultMaxElapsed
	return p
}

// Option configures a Connector.
type Option func(*config)

type config struct {
	policy         retry.Policy
	params         map[string]string
	logger         *slog.Logger
	fallback       bool
	connectTimeout time.Duration
}

func defaultConfig() config {
	return config{
		policy:         DefaultPolicy(),
		fallback:       true,
		connectTimeout: DefaultConnectTimeout,
	}
}

// WithRetry sets the retry policy of a connect. Transient failures are retried in the
// policy's loop with its waits and jitter. Rounds in which every staging label was rejected
// wait at the Connector's shared gate instead, which takes the policy's Initial, Multiplier
// and Max with equal jitter, so that it always holds logins back. MaxElapsed and
// MaxAttempts (counted per kind of failure) bound both; a policy with neither is bounded by
// the context's deadline, or by 60s when the context has none. The Engine classifies
// errors and Stats counts retries, so a policy with Retryable or OnRetry set makes New panic.
func WithRetry(p retry.Policy) Option {
	return func(c *config) {
		if p.Retryable != nil || p.OnRetry != nil {
			panic("sqlconn: WithRetry: the policy's Retryable and OnRetry are not used; the Engine classifies errors and Stats counts retries")
		}
		c.policy = p
	}
}

// WithParams adds connection parameters to every login, such as sslmode,
// application_name or connect_timeout for PostgreSQL; see the Driver for which it accepts.
// The map is copied. Later calls add to earlier ones.
func WithParams(params map[string]string) Option {
	return func(c *config) {
		if c.params == nil {
			c.params = make(map[string]string, len(params))
		}
		maps.Copy(c.params, params)
	}
}

// WithLogger makes the Connector log version changes at Info and rejected rounds and
// retries at Debug to l. Records carry the secret ID, version IDs and errors, never a
// password. Without it the Connector logs to slog.Default() (read at the time of
// logging); a nil l discards the logs.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		c.logger = l
	}
}

// WithoutFallback turns off the fallback to AWSPENDING and AWSPREVIOUS: after a rejected
// login the Connector only reads AWSCURRENT again and tries it.
func WithoutFallback() Option {
	return func(c *config) { c.fallback = false }
}

// WithConnectTimeout bounds each login attempt; 0 means DefaultConnectTimeout and a
// negative d makes New panic. The whole Connect is bounded by the context and the retry
// policy.
func WithConnectTimeout(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			panic(fmt.Sprintf("sqlconn: WithConnectTimeout(%v): the timeout must not be negative", d))
		}
		if d == 0 {
			d = DefaultConnectTimeout
		}
		c.connectTimeout = d
	}
}
