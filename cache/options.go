package cache

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/rotasafe/rotasafe/internal/logopt"
	"github.com/rotasafe/rotasafe/notice"
	"github.com/rotasafe/rotasafe/retry"
)

// Defaults, used when an option is not given (or given a value it documents as "default").
const (
	DefaultTTL                = time.Hour        // how long a fetched version is fresh, ±10 %
	DefaultMaxEntries         = 1024             // (secret ID, stage) entries kept
	DefaultMaxStale           = time.Hour        // how long past expiry a version may be served on outage
	DefaultMinRefreshInterval = time.Second      // floor between forced fetches of one secret
	DefaultRefreshAhead       = 0.15             // fraction of the TTL before expiry that refreshes in the background
	DefaultNegativeTTL        = time.Second      // how long a missing stage (and AWSPENDING) is remembered
	DefaultFetchTimeout       = 30 * time.Second // bound on one shared GetSecretValue, SDK retries included
	DefaultWarmWindow         = 10 * time.Second // the window Warm spreads its fetches over
)

// jitter is the half-width of the random spread of each entry's TTL, as a fraction of it.
const jitter = 0.10

// failurePolicy paces the fetches of an entry after consecutive failures: 1 s doubling up
// to 30 s, with equal jitter (never less than half the ceiling).
var failurePolicy = retry.Policy{Initial: time.Second, Max: 30 * time.Second, Jitter: retry.Equal}

// config holds the settings New assembles from the options.
type config struct {
	ttl          time.Duration
	maxEntries   int
	maxStale     time.Duration // < 0: no limit; 0: never serve stale
	minForced    time.Duration
	ahead        float64
	negativeTTL  time.Duration
	fetchTimeout time.Duration
	warmWindow   time.Duration
	warmIDs      []string
	notices      notice.Transport // nil: no notices
	noticeWindow time.Duration
	noticeHold   time.Duration
	logger       *slog.Logger
	meters       metric.MeterProvider // nil: otel.GetMeterProvider() when New runs
	now          func() time.Time     // nil: the real clock, coarse on hits
	rand         rand.Source          // nil: math/rand/v2's global source
}

func defaults() config {
	return config{
		ttl:          DefaultTTL,
		maxEntries:   DefaultMaxEntries,
		maxStale:     DefaultMaxStale,
		minForced:    DefaultMinRefreshInterval,
		ahead:        DefaultRefreshAhead,
		negativeTTL:  DefaultNegativeTTL,
		fetchTimeout: DefaultFetchTimeout,
		warmWindow:   DefaultWarmWindow,
		noticeWindow: DefaultNoticeWindow,
		noticeHold:   DefaultNoticeHold,
	}
}

// mustNotBeNegative panics, naming the option, when d is negative: a programming error that
// would otherwise surface later and further from the mistake.
func mustNotBeNegative(option string, d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("cache: %s(%v): the duration must not be negative", option, d))
	}
}

// Option configures a Cache in New.
type Option func(*config)

// WithTTL sets how long a fetched version is fresh before it is fetched again. Each entry's
// TTL is spread by ±10 % so a fleet does not refresh in lockstep. 0 keeps DefaultTTL (1 h);
// a negative d makes New panic.
func WithTTL(d time.Duration) Option {
	return func(c *config) {
		mustNotBeNegative("WithTTL", d)
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithMaxEntries bounds the number of (secret ID, stage) entries; past it the least recently
// fetched entry is dropped. Recency is recorded on misses and refreshes, not on every hit, so
// that hits take no lock. 0 keeps DefaultMaxEntries (1024); a negative n makes New panic.
func WithMaxEntries(n int) Option {
	return func(c *config) {
		if n < 0 {
			panic(fmt.Sprintf("cache: WithMaxEntries(%d): the bound must not be negative", n))
		}
		if n > 0 {
			c.maxEntries = n
		}
	}
}

// WithMaxStale sets how long past its expiry a version may still be served while Secrets
// Manager is unreachable, failing with a server error, or throttling. Past it, reads return an
// error that wraps the cause. 0 never serves a stale version; d < 0 serves it without limit.
// The default is DefaultMaxStale (1 h).
func WithMaxStale(d time.Duration) Option { return func(c *config) { c.maxStale = d } }

// WithLogger sets where the cache logs (metadata only: secret ID, stage, version ID, error
// code): once when a stale-serving episode starts and once when it ends, and failed
// background work, instead of slog.Default() (read at the time of logging). A nil l
// discards the logs.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = logopt.Given(l) } }

// WithMeterProvider makes the cache record its metrics (rotasafe.cache.* and
// rotasafe.notices.received; see the package documentation) with mp instead of
// OpenTelemetry's global MeterProvider, which New reads when it runs (instruments made
// before the application installs its provider are handed over to it). A nil mp keeps the
// global provider.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.meters = mp } }

// WithMinRefreshInterval sets the floor between two forced reads (Refresh, Reread) of one
// secret and label made for the same reason (the same rejected version): callers inside it
// share the last answer. A version rejected for the first time is read at once. 0 removes
// the floor (concurrent callers still share one call); a negative d makes New panic. The
// default is DefaultMinRefreshInterval (1 s).
func WithMinRefreshInterval(d time.Duration) Option {
	return func(c *config) {
		mustNotBeNegative("WithMinRefreshInterval", d)
		c.minForced = d
	}
}

// WithRefreshAhead sets the fraction of its TTL before expiry at which an entry that is read
// is refreshed in the background (the read itself returns at once). 0 turns refresh-ahead
// off (an expired entry is then fetched by its next reader); f outside [0, 0.5] makes New
// panic. The default is DefaultRefreshAhead (0.15).
func WithRefreshAhead(f float64) Option {
	return func(c *config) {
		if !(f >= 0 && f <= 0.5) {
			panic(fmt.Sprintf("cache: WithRefreshAhead(%v): the fraction must be within [0, 0.5]", f))
		}
		c.ahead = f
	}
}

// WithNegativeTTL sets how long a stage found missing (ResourceNotFoundException) is
// remembered, so that reads of an absent AWSPENDING do not reach Secrets Manager each time.
// AWSPENDING values are cached for the same time, since the label moves with every
// rotation. 0 keeps DefaultNegativeTTL (1 s); a negative d makes New panic.
func WithNegativeTTL(d time.Duration) Option {
	return func(c *config) {
		mustNotBeNegative("WithNegativeTTL", d)
		if d > 0 {
			c.negativeTTL = d
		}
	}
}

// WithFetchTimeout bounds one shared GetSecretValue, the SDK's retries included. It runs
// apart from its callers' contexts, so that one caller giving up does not fail the others.
// 0 keeps DefaultFetchTimeout (30 s); a negative d makes New panic.
func WithFetchTimeout(d time.Duration) Option {
	return func(c *config) {
		mustNotBeNegative("WithFetchTimeout", d)
		if d > 0 {
			c.fetchTimeout = d
		}
	}
}

// WithWarmWindow sets the window Warm spreads its fetches over, each at a random offset, so
// that a fleet starting at once does not spike the API. 0 fetches at once, one after the
// other; a negative d makes New panic. The default is DefaultWarmWindow (10 s).
func WithWarmWindow(d time.Duration) Option {
	return func(c *config) {
		mustNotBeNegative("WithWarmWindow", d)
		c.warmWindow = d
	}
}

// WithWarm makes New start warming the given secret IDs (AWSCURRENT) in the background, as
// Warm does; failures are logged. Close stops it.
func WithWarm(ids ...string) Option {
	return func(c *config) { c.warmIDs = append(c.warmIDs, ids...) }
}

// WithClock replaces the real clock, for tests. The cache then reads now on every hit instead
// of its coarse clock (a goroutine updating an atomic), so a test sees expiry exactly when it
// moves its clock. Timers (Warm's spreading) still use real time. nil keeps the real clock.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithRand sets the source of the TTL jitter and Warm's offsets, for
// exact tests. The cache serialises its calls to src. nil keeps math/rand/v2's global source.
func WithRand(src rand.Source) Option { return func(c *config) { c.rand = src } }
