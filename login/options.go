package login

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/rotasafe/rotasafe/internal/logopt"
	"github.com/rotasafe/rotasafe/internal/option"
	"github.com/rotasafe/rotasafe/retry"
)

// DefaultMaxElapsed is the default bound of one Login: credentials that no staging label
// fixes, or a service that stays down, fail after about this long. It is the MaxElapsed of
// DefaultPolicy, and it bounds a Login whose policy has none and whose context has no
// deadline.
const DefaultMaxElapsed = 10 * time.Second

// DefaultPolicy returns the retry policy of a Walker unless WithRetry says otherwise:
// retry.Default's jittered waits (50ms doubling up to 2s, full jitter) with MaxElapsed
// DefaultMaxElapsed, so that a login with wrong credentials fails within seconds rather
// than holding a pool slot.
func DefaultPolicy() retry.Policy {
	p := retry.Default()
	p.MaxElapsed = DefaultMaxElapsed
	return p
}

// Option configures a Walker.
type Option func(*config)

type config struct {
	client     string
	logger     *slog.Logger // unset: slog.Default() at the time of logging (logopt)
	policy     retry.Policy
	timeout    time.Duration
	noFallback bool
	meters     metric.MeterProvider // nil: otel.GetMeterProvider() when New runs
	invalid    string               // the first invalid option and why, for New's panic
}

// newConfig applies opts over the defaults. It panics, naming the client, when an option is
// invalid: a programming error.
func newConfig(opts []Option) config {
	c := config{client: "login", policy: DefaultPolicy()}
	option.Apply(&c, opts)
	if c.invalid != "" {
		panic(c.client + ": " + c.invalid)
	}
	return c
}

func (c *config) refuse(why string) {
	if c.invalid == "" {
		c.invalid = why
	}
}

// WithClient names the client in errors (rotasafe.ConnectError.Client), log messages and
// metrics, such as "sqlconn"; the default is "login".
func WithClient(name string) Option { return func(c *config) { c.client = name } }

// WithLogger makes the Walker log version changes at Info and rejected rounds and retries at
// Debug to l. Records carry the secret ID, version IDs and errors, never a secret value.
// Without it the Walker logs to slog.Default() (read at the time of logging); a nil l
// discards the logs.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = logopt.Given(l) } }

// WithRetry sets the retry policy of a Login. Transient failures are retried in the policy's
// loop with its waits and jitter. Rounds in which every staging label was rejected wait at
// the Walker's shared lockout gate instead, which takes the policy's Initial, Multiplier and
// Max with equal jitter, so that it always holds logins back. MaxElapsed and MaxAttempts
// (counted per kind of failure) bound both; a policy with neither is bounded by the
// context's deadline, or by DefaultMaxElapsed when the context has none. A Try classifies
// errors and Stats counts retries, so a policy with Retryable or OnRetry set makes New panic.
func WithRetry(p retry.Policy) Option {
	return func(c *config) {
		if p.Retryable != nil || p.OnRetry != nil {
			c.refuse("WithRetry: the policy's Retryable and OnRetry are not used; the login classifies errors and Stats counts retries")
			return
		}
		c.policy = p
	}
}

// WithoutFallback turns off the fallback to AWSPENDING and AWSPREVIOUS: after a rejected
// login only AWSCURRENT is read again and tried.
func WithoutFallback() Option { return func(c *config) { c.noFallback = true } }

// WithAttemptTimeout bounds each login attempt (each call of a Try); zero, the default, means
// no bound beyond the context's, and a negative d makes New panic. The whole Login is
// bounded by the context and the retry policy.
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.refuse(fmt.Sprintf("WithAttemptTimeout(%v): the timeout must not be negative", d))
			return
		}
		c.timeout = d
	}
}

// WithMeterProvider makes the Walker record its login attempts (rotasafe.login.attempts and
// rotasafe.login.duration, named by WithClient) with mp instead of OpenTelemetry's global
// MeterProvider, which New reads when it runs (instruments made before the application
// installs its provider are handed over to it). A nil mp keeps the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.meters = mp } }
