package pgxpoolconn

import (
	"errors"
	"log/slog"
	"time"

	"github.com/rotasafe/rotasafe/retry"
)

// DefaultMaxElapsed bounds the login of one new pool connection under DefaultPolicy:
// credentials that no staging label fixes, or a database that stays down, fail after about
// this long.
const DefaultMaxElapsed = 5 * time.Second

// DefaultPolicy returns the retry policy of a login unless WithRetry says otherwise:
// retry.Default's jittered waits (50ms doubling up to 2s, full jitter) with MaxElapsed
// lowered to DefaultMaxElapsed, as sqlconn's.
func DefaultPolicy() retry.Policy {
	p := retry.Default()
	p.MaxElapsed = DefaultMaxElapsed
	return p
}

// Option configures a Credentials (and Configure and New, which make one).
type Option func(*config)

type config struct {
	policy   retry.Policy
	logger   *slog.Logger
	fallback bool
	err      error // the first invalid option
}

func newConfig(opts []Option) config {
	c := config{policy: DefaultPolicy(), fallback: true}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// WithRetry sets the retry policy of the login of a new pool connection, as sqlconn's
// WithRetry does: transient failures are retried with the policy's jittered waits; rounds in
// which every staging label was rejected wait at a gate shared by the pool's logins (the
// policy's Initial, Multiplier and Max with equal jitter). MaxElapsed and MaxAttempts bound
// both; a policy with neither is bounded by 60s, since the pool gives its logins no deadline.
// The policy's Retryable and OnRetry are not used: a policy with either set is refused.
func WithRetry(p retry.Policy) Option {
	return func(c *config) {
		if p.Retryable != nil || p.OnRetry != nil {
			c.setErr(errors.New("pgxpoolconn: WithRetry: the policy's Retryable and OnRetry are not used; logins are classified by SQLSTATE and Stats counts retries"))
			return
		}
		c.policy = p
	}
}

// WithLogger makes the logins log version changes at Info and rejected rounds and retries at
// Debug to l. Records carry the secret ID, version IDs and errors, never a password. nil,
// the default, means slog.Default() at the time of logging.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithoutFallback turns off the fallback to AWSPENDING and AWSPREVIOUS: after a rejected
// login only AWSCURRENT is read again and tried.
func WithoutFallback() Option { return func(c *config) { c.fallback = false } }

func (c *config) setErr(err error) {
	if c.err == nil {
		c.err = err
	}
}
