package pgxpoolconn

import (
	"log/slog"

	"go.opentelemetry.io/otel/metric"

	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/retry"
)

// Option configures a Credentials (and Configure and New, which make one).
type Option func(*config)

type config struct {
	login []login.Option // the walk's options, after pgxpoolconn's defaults
}

// with forwards a login option: its meaning and default are login's.
func with(o login.Option) Option { return func(c *config) { c.login = append(c.login, o) } }

// WithRetry sets the retry policy of the login of a new pool connection, as
// login.WithRetry does: transient failures are retried with the policy's jittered waits,
// rounds in which every staging label was rejected wait at a lockout gate shared by the
// pool's logins, and MaxElapsed and MaxAttempts bound both. Without it a login uses
// login.DefaultPolicy; a policy with neither bound is bounded by login.DefaultMaxElapsed,
// since the pool gives its logins no deadline. A policy with Retryable or OnRetry set makes
// the constructor panic: logins are classified by SQLSTATE and Stats counts retries.
func WithRetry(p retry.Policy) Option { return with(login.WithRetry(p)) }

// WithLogger makes the logins log version changes at Info and rejected rounds and retries at
// Debug to l, as login.WithLogger does. Records carry the secret ID, version IDs and errors,
// never a password. Without it the logins log to slog.Default() (read at the time of
// logging); a nil l discards the logs.
func WithLogger(l *slog.Logger) Option { return with(login.WithLogger(l)) }

// WithMeterProvider makes the login attempts record their metrics (rotasafe.login.attempts
// and rotasafe.login.duration) with mp, as login.WithMeterProvider does, instead of
// OpenTelemetry's global MeterProvider; a nil mp keeps the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option { return with(login.WithMeterProvider(mp)) }

// WithoutFallback turns off the fallback to AWSPENDING and AWSPREVIOUS, as
// login.WithoutFallback does: after a rejected login only AWSCURRENT is read again and
// tried.
func WithoutFallback() Option { return with(login.WithoutFallback()) }
