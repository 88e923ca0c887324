package cache

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/logopt"
	"github.com/rotasafe/rotasafe/internal/telemetry"
)

// scope is the instrumentation scope of the cache's metrics: the package's import path.
const scope = "github.com/rotasafe/rotasafe/cache"

// ErrClosed is returned by every method of a Cache after Close.
var ErrClosed = errors.New("cache: closed")

// key names an entry: one staging label of one secret, as the caller spelled the secret ID.
type key struct{ id, stage string }

// Cache reads secrets through a rotasafe.API and keeps them. It is safe for concurrent use.
// Create it with New and stop it with Close, which stops its clock goroutine and background
// fetches; a Cache dropped without Close stops its clock when it is garbage collected.
//
// Locks: an entry's mu is taken before the Cache's mu, never the other way round, and no
// lock is held across I/O, logging or a caller's callback.
type Cache struct {
	// What Get's hits read, first and together; the words they write or that change on
	// every tick live apart from c, on cache lines of their own.
	current index        // the AWSCURRENT entries by secret ID (the hottest lookup)
	clock   *coarseClock // nanoseconds since epoch for hits; nil with WithClock (apart, like wg)
	hits    *hitCounter  // written on every hit

	api rotasafe.API
	cfg config

	others sync.Map // key -> *entry: every stage but AWSCURRENT, lock-free lookups
	memos  sync.Map // memoKey -> *memo; changed under mu only

	epoch time.Time // the zero of every internal instant (monotonic with the real clock)

	ctx    context.Context // cancelled by Close: stops fetches, warm-up and the clock
	cancel context.CancelFunc
	wg     *sync.WaitGroup // every goroutine the Cache starts (apart, so the clock goroutine does not pin c)

	randMu sync.Mutex // guards rng
	rng    *rand.Rand // nil: the global source

	st *counters // apart from c, so that the metrics' collector reads it without pinning c
	nt *notices  // rotation notices (WithNotices); nil without

	tm       *telemetry.Cache // the rotasafe.cache.* instruments
	stopHits func()           // ends the collection of hits and misses (Close)

	mu     sync.Mutex // guards the fields below, the maps' contents and memo refs
	lru    *simplelru.LRU[key, *entry]
	closed bool
}

// New returns a Cache reading through api (a *secretsmanager.Client fits). Without options it
// keeps up to 1024 entries for 1 h each (±10 %), refreshes entries in use in the last 15 % of
// their TTL, serves a stale version for up to 1 h past expiry while Secrets Manager fails,
// and lets each secret be force-refreshed at most once a second.
//
// New panics if api is nil: every read would fail, later and further from the mistake.
func New(api rotasafe.API, opts ...Option) *Cache {
	if api == nil {
		panic("cache: New with a nil rotasafe.API")
	}
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	c := &Cache{hits: new(hitCounter), st: new(counters), api: api, cfg: cfg, wg: new(sync.WaitGroup)}
	c.current.clear()
	if cfg.rand != nil {
		c.rng = rand.New(cfg.rand)
	}
	c.epoch = c.wall()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	// NewLRU fails only for a size <= 0, which the options rule out.
	c.lru, _ = simplelru.NewLRU(cfg.maxEntries, c.evicted)
	if cfg.now == nil {
		// The clock goroutine holds the clock, not c: a Cache that is dropped without Close
		// becomes unreachable, and its cleanup stops the goroutine.
		c.clock = new(coarseClock)
		clock, epoch, every, ctx := c.clock, c.epoch, c.tickEvery(), c.ctx
		c.wg.Go(func() { clock.run(ctx, epoch, every) })
		runtime.AddCleanup(c, func(cancel context.CancelFunc) { cancel() }, c.cancel)
	}
	// Hits and misses are read from their counters when the MeterProvider collects: the hit
	// path records nothing. The callback holds the counters, not c, so that the provider
	// does not keep a dropped Cache alive; its cleanup (or Close) ends the collection.
	c.tm = telemetry.NewCache(cfg.meters, scope)
	hits, st := c.hits, c.st
	c.stopHits = sync.OnceFunc(c.tm.ObserveHits(func() (uint64, uint64) { return hits.load(), st.misses.Load() }))
	runtime.AddCleanup(c, func(stop func()) { stop() }, c.stopHits)
	if cfg.notices != nil {
		c.nt = &notices{t: cfg.notices}
		c.wg.Go(c.listen)
	}
	if len(cfg.warmIDs) > 0 {
		ids := cfg.warmIDs
		c.wg.Go(func() {
			if err := c.Warm(c.ctx, ids...); err != nil && c.ctx.Err() == nil {
				c.logger().Warn("cache: warm-up failed", "secrets", len(ids), "error", err)
			}
		})
	}
	return c
}

// Get returns the AWSCURRENT version of secretID. See GetStage.
func (c *Cache) Get(ctx context.Context, secretID string) (rotasafe.Version, error) {
	// Small enough to be inlined, and with one return, so that a hit copies the Version
	// once, into the caller's frame, instead of through a frame of its own.
	s, err := c.getCurrent(ctx, secretID)
	return s.v, err
}

// getCurrent is Get's read. It never returns nil: a failed read answers &none.
func (c *Cache) getCurrent(ctx context.Context, id string) (*snapshot, error) {
	// The hit path: a map access, an atomic load, a clock load and a hit counted on a
	// stripe of the goroutine's own; no lock, no allocation.
	if e := c.current.load(id); e != nil {
		if s := e.snap.Load(); s != nil && s.err == nil && c.coarseNow() < s.refreshAt {
			c.hits.inc()
			return s, nil
		}
	}
	s, err := c.getSlow(ctx, id, rotasafe.StageCurrent)
	if err != nil {
		return &none, err
	}
	return s, nil
}

// none is the answer of a failed read: the zero Version. It is never changed.
var none snapshot

// GetStage returns the version of secretID that holds stage. A fresh cached version is
// returned without I/O; a version in the last part of its TTL is returned too, and refreshed
// in the background; otherwise the caller waits (within ctx) for a GetSecretValue shared with
// every concurrent caller. While Secrets Manager fails with a network error, a server error or
// throttling, the last good version is served up to MaxStale past its expiry, then the error
// is returned. Other errors (ResourceNotFoundException, AccessDeniedException, ...) are
// returned as they come and remembered for a short time (NegativeTTL for a missing stage, a
// backoff otherwise); rotasafe.IsNotFound reports a missing secret or stage.
//
// The returned Version shares its Stages and SecretBinary slices with the cache: treat it
// as read-only.
func (c *Cache) GetStage(ctx context.Context, secretID, stage string) (rotasafe.Version, error) {
	return version(c.lookup(ctx, secretID, stage))
}

func version(s *snapshot, err error) (rotasafe.Version, error) {
	if err != nil {
		return rotasafe.Version{}, err
	}
	return s.v, nil
}

// snapshot returns the AWSCURRENT snapshot of id.
func (c *Cache) snapshot(ctx context.Context, id string) (*snapshot, error) {
	return c.lookup(ctx, id, rotasafe.StageCurrent)
}

// lookup is the read path of GetStage: a lock-free hit, or getSlow. It reads the precise
// clock, since AWSPENDING and missing stages live for NegativeTTL only, which may be shorter
// than the coarse clock's tick.
func (c *Cache) lookup(ctx context.Context, id, stage string) (*snapshot, error) {
	if e, ok := c.entryFor(id, stage); ok {
		if s := e.snap.Load(); s != nil && c.now() < s.refreshAt {
			c.hits.inc()
			if s.err != nil {
				return nil, s.err
			}
			return s, nil
		}
	}
	return c.getSlow(ctx, id, stage)
}

// entryFor looks an entry up without locking.
func (c *Cache) entryFor(id, stage string) (*entry, bool) {
	if stage == rotasafe.StageCurrent {
		e := c.current.load(id)
		return e, e != nil
	}
	v, ok := c.others.Load(key{id, stage})
	if !ok {
		return nil, false
	}
	return v.(*entry), true
}

// entry returns the entry of (id, stage), creating it (and evicting the least recently
// fetched one past the bound) if needed.
func (c *Cache) entry(id, stage string) (*entry, error) {
	if e, ok := c.entryFor(id, stage); ok {
		return e, nil
	}
	tm := c.tm.Entry(id, stage) // its attribute sets, made outside the lock
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if e, ok := c.entryFor(id, stage); ok {
		return e, nil
	}
	e := &entry{key: key{id, stage}, tm: tm}
	if stage == rotasafe.StageCurrent {
		c.current.store(id, e)
	} else {
		c.others.Store(e.key, e)
	}
	c.lru.Add(e.key, e)
	return e, nil
}

// evicted is the LRU's eviction callback; it runs with c.mu held.
func (c *Cache) evicted(k key, e *entry) {
	if k.stage == rotasafe.StageCurrent {
		c.current.remove(k.id, e)
	} else {
		c.others.CompareAndDelete(k, e)
	}
	e.gone = true
	if s := e.snap.Load(); s != nil {
		c.release(s.memo)
	}
	if !c.closed {
		c.st.evictions.Add(1)
	}
}

// Close stops background refreshes and the warm-up, waits for every goroutine the Cache
// started, and drops the entries. Later calls return ErrClosed. Close is idempotent and
// always returns nil; it is an io.Closer.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.current.clear() // at once, rather than one copy per entry the purge evicts
	c.lru.Purge()
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.stopHits()
	return nil
}

// goBG runs f on a goroutine Close waits for, unless the Cache is closed.
func (c *Cache) goBG(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Go(f)
	return true
}

// logger returns the configured logger, or slog.Default() as it is now.
func (c *Cache) logger() *slog.Logger { return logopt.Or(c.cfg.logger) }

// wall reads the configured clock.
func (c *Cache) wall() time.Time {
	if c.cfg.now != nil {
		return c.cfg.now()
	}
	return time.Now()
}

// now returns the precise time, in nanoseconds since epoch.
func (c *Cache) now() int64 {
	if c.cfg.now != nil {
		return int64(c.cfg.now().Sub(c.epoch))
	}
	return int64(time.Since(c.epoch))
}

// coarseNow is now for hits: an atomic load, behind the real clock by at most one tick
// (with WithClock, the configured clock, read exactly).
func (c *Cache) coarseNow() int64 {
	if c.clock != nil {
		return c.clock.ns.Load()
	}
	return c.now()
}

// coarseClock is the clock hits read: nanoseconds since the Cache's epoch, stored by the
// clock goroutine every tick. It fills a cache line of its own (a 64-byte allocation is
// 64-byte aligned), so that neither its tick nor a neighbour's writes evict the words that
// hits read on other cores.
type coarseClock struct {
	ns atomic.Int64
	_  [56]byte
}

// tickEvery is the coarse clock's resolution: a twentieth of the TTL, within [10 ms, 1 s].
// Only Get's hits read the coarse clock, and only AWSCURRENT entries, which live for the TTL.
func (c *Cache) tickEvery() time.Duration {
	return min(max(c.cfg.ttl/20, 10*time.Millisecond), time.Second)
}

// run advances the clock every period until ctx ends (Close).
func (k *coarseClock) run(ctx context.Context, epoch time.Time, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		k.ns.Store(int64(time.Since(epoch)))
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// float returns a random number in [0, 1).
func (c *Cache) float() float64 {
	if c.rng == nil {
		return rand.Float64()
	}
	c.randMu.Lock()
	defer c.randMu.Unlock()
	return c.rng.Float64()
}
