package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/rotasafe/rotasafe/notice"
)

// ReadOutcome is how a GetSecretValue call ended, the KeyOutcome of rotasafe.cache.reads.
type ReadOutcome uint8

// The outcomes of a read.
const (
	ReadOK        ReadOutcome = iota // a version came back
	ReadNotFound                     // no such secret, or no version holds the stage
	ReadThrottled                    // Secrets Manager throttled the call
	ReadError                        // any other failure
	numReadOutcomes
)

var readOutcomes = [numReadOutcomes]string{"ok", "not_found", "throttled", "error"}

// String returns the outcome's attribute value.
func (o ReadOutcome) String() string { return readOutcomes[min(o, ReadError)] }

// Cache holds the instruments of one cache:
//
//	rotasafe.cache.reads          {read}   secret, stage, outcome
//	rotasafe.cache.read.duration  s        secret, stage
//	rotasafe.cache.stale_served   {read}   secret
//	rotasafe.cache.hits           {read}   (observed from the cache's counters)
//	rotasafe.cache.misses         {read}   (observed from the cache's counters)
//	rotasafe.notices.received     {notice} secret, notice.kind
//
// It is safe for concurrent use.
type Cache struct {
	meter        metric.Meter
	reads        metric.Int64Counter
	readTime     metric.Float64Histogram
	stale        metric.Int64Counter
	received     metric.Int64Counter
	hits, misses metric.Int64ObservableCounter
}

// NewCache returns the instruments of a cache, made by mp's meter for scope (the cache
// package's import path); nil mp means the global MeterProvider.
func NewCache(mp metric.MeterProvider, scope string) *Cache {
	m := meter(mp, scope)
	return &Cache{
		meter:    m,
		reads:    counter(m, "rotasafe.cache.reads", "{read}", "GetSecretValue calls the cache made, by stage asked for and outcome."),
		readTime: histogram(m, "rotasafe.cache.read.duration", "How long the cache's GetSecretValue calls took, the SDK's retries included.", readBuckets),
		stale: counter(m, "rotasafe.cache.stale_served", "{read}",
			"Reads answered with a version past its TTL because Secrets Manager failed."),
		received: counter(m, "rotasafe.notices.received", "{notice}", "Rotation notices the cache received and acted on."),
		hits:     observableCounter(m, "rotasafe.cache.hits", "{read}", "Reads answered from the cache without waiting for Secrets Manager."),
		misses:   observableCounter(m, "rotasafe.cache.misses", "{read}", "Reads that waited for a GetSecretValue call."),
	}
}

// Entry returns the recorder of one cached stage of one secret. Make it once per entry: it
// computes its attribute sets now, so that recording allocates nothing.
func (c *Cache) Entry(secret, stage string) *CacheEntry {
	s, st := KeySecret.String(secret), KeyStage.String(stages[stageIndex(stage)])
	e := &CacheEntry{c: c, readTime: []metric.RecordOption{set(s, st)}, stale: []metric.AddOption{set(s)}}
	for o := range numReadOutcomes {
		e.reads[o] = []metric.AddOption{set(s, st, KeyOutcome.String(o.String()))}
	}
	return e
}

// CacheEntry records what a cache does for one stage of one secret. It is safe for
// concurrent use.
type CacheEntry struct {
	c        *Cache
	reads    [numReadOutcomes][]metric.AddOption
	readTime []metric.RecordOption
	stale    []metric.AddOption
}

// Read records one GetSecretValue call that ended with o after d.
func (e *CacheEntry) Read(ctx context.Context, o ReadOutcome, d time.Duration) {
	e.c.reads.Add(ctx, 1, e.reads[min(o, ReadError)]...)
	e.c.readTime.Record(ctx, d.Seconds(), e.readTime...)
}

// StaleServed records one read answered with a version past its TTL.
func (e *CacheEntry) StaleServed(ctx context.Context) {
	e.c.stale.Add(ctx, 1, e.stale...)
}

// NoticeReceived records a rotation notice of kind about secret (the ID the cache reads it
// under) that the cache acted on. Kinds other than the four notice.Kind constants count as
// "other".
func (c *Cache) NoticeReceived(ctx context.Context, secret string, kind notice.Kind) {
	c.received.Add(ctx, 1, metric.WithAttributes(KeySecret.String(secret), noticeKind(kind)))
}

// ObserveHits reports the cache's hits and misses, as f returns them, each time the
// application's MeterProvider collects; the hit path itself records nothing. f is called
// on the collector's goroutine and must only read counters; it must not reach the Cache
// itself, which the provider would then keep alive. The counts are the whole cache's (no
// attributes): a cache counts hits across its secrets. Call the returned func to stop, when
// the cache closes.
func (c *Cache) ObserveHits(f func() (hits, misses uint64)) (stop func()) {
	hits, misses := c.hits, c.misses
	reg, err := c.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		h, m := f()
		o.ObserveInt64(hits, int64(h))
		o.ObserveInt64(misses, int64(m))
		return nil
	}, hits, misses)
	if err != nil || reg == nil {
		if err != nil {
			otel.Handle(err)
		}
		return func() {}
	}
	return func() {
		if err := reg.Unregister(); err != nil {
			otel.Handle(err)
		}
	}
}

// noticeKind returns the KeyNoticeKind attribute of k: one of notice's four kinds, or "other".
func noticeKind(k notice.Kind) attribute.KeyValue {
	switch k {
	case notice.PendingStored, notice.PasswordChanging, notice.PasswordChanged, notice.Finished:
		return KeyNoticeKind.String(string(k))
	}
	return KeyNoticeKind.String("other")
}
