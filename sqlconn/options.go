package sqlconn

import (
	"log/slog"
	"maps"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/retry"
)

// DefaultConnectTimeout bounds one login attempt (dial, TLS and authentication) unless
// WithConnectTimeout says otherwise.
const DefaultConnectTimeout = 10 * time.Second

// Option configures a Connector.
type Option func(*config)

type config struct {
	params map[string]string
	login  []login.Option // the walk's options, after sqlconn's defaults
}

// with forwards a login option: its meaning and default are login's.
func with(o login.Option) Option { return func(c *config) { c.login = append(c.login, o) } }

// WithRetry sets the retry policy of a connect, as login.WithRetry does: transient failures
// are retried with the policy's jittered waits, rounds in which every staging label was
// rejected wait at the Connector's shared lockout gate, and MaxElapsed and MaxAttempts bound
// both. Without it a connect uses login.DefaultPolicy. A policy with Retryable or OnRetry
// set makes New panic: the Engine classifies errors and Stats counts retries.
func WithRetry(p retry.Policy) Option { return with(login.WithRetry(p)) }

// WithLogger makes the Connector log version changes at Info and rejected rounds and
// retries at Debug to l, as login.WithLogger does. Records carry the secret ID, version IDs
// and errors, never a password. Without it the Connector logs to slog.Default() (read at
// the time of logging); a nil l discards the logs.
func WithLogger(l *slog.Logger) Option { return with(login.WithLogger(l)) }

// WithMeterProvider makes the login attempts record their metrics (rotasafe.login.attempts
// and rotasafe.login.duration) with mp, as login.WithMeterProvider does, instead of
// OpenTelemetry's global MeterProvider; a nil mp keeps the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option { return with(login.WithMeterProvider(mp)) }

// WithoutFallback turns off the fallback to AWSPENDING and AWSPREVIOUS, as
// login.WithoutFallback does: after a rejected login the Connector only reads AWSCURRENT
// again and tries it.
func WithoutFallback() Option { return with(login.WithoutFallback()) }

// WithConnectTimeout bounds each login attempt, as login.WithAttemptTimeout does; 0 means
// DefaultConnectTimeout and a negative d makes New panic. The whole Connect is bounded by
// the context and the retry policy.
func WithConnectTimeout(d time.Duration) Option {
	if d == 0 {
		d = DefaultConnectTimeout
	}
	return with(login.WithAttemptTimeout(d))
}

// WithParams adds connection parameters to every login, such as sslmode,
// application_name or connect_timeout for PostgreSQL; see the Engine for which it accepts.
// The map is copied. Later calls add to earlier ones.
func WithParams(params map[string]string) Option {
	return func(c *config) {
		if c.params == nil {
			c.params = make(map[string]string, len(params))
		}
		maps.Copy(c.params, params)
	}
}
