package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/telemetry"
)

// getSlow is GetStage past the lock-free check: the entry is missing, in its refresh-ahead
// window, expired, or in a failure episode.
func (c *Cache) getSlow(ctx context.Context, id, stage string) (*snapshot, error) {
	e, err := c.entry(id, stage)
	if err != nil {
		return nil, err
	}
	now := c.now()
	s := e.snap.Load()
	if s != nil && now < s.expireAt {
		if now >= s.refreshAt {
			c.refreshAhead(ctx, e, now)
		}
		c.hits.inc()
		return s.result()
	}

	e.mu.Lock()
	episode := e.lastErr != nil
	e.mu.Unlock()
	if episode {
		if now < e.retryAt.Load() {
			return c.stale(ctx, e, s, now)
		}
		if c.servable(s, now) {
			c.refreshAhead(ctx, e, now)
			return c.stale(ctx, e, s, now)
		}
	}

	c.st.misses.Add(1)
	ns, err := c.wait(ctx, e)
	switch {
	case err == nil:
		return ns.result()
	case ctx.Err() != nil || errors.Is(err, ErrClosed):
		return nil, err
	case transient(err):
		// Judge staleness as of when the read came in, not after the SDK's retries.
		return c.stale(ctx, e, s, now)
	}
	return nil, err
}

// result returns s, or its remembered error.
func (s *snapshot) result() (*snapshot, error) {
	if s.err != nil {
		return nil, s.err
	}
	return s, nil
}

// servable reports whether s holds a version that may still be served stale at now.
func (c *Cache) servable(s *snapshot, now int64) bool {
	if s == nil || s.err != nil || c.cfg.maxStale == 0 {
		return false
	}
	return c.cfg.maxStale < 0 || now < s.expireAt+int64(c.cfg.maxStale)
}

// stale answers a read of an expired entry during a failure episode: the last good version
// while it is within MaxStale, else the failure.
func (c *Cache) stale(ctx context.Context, e *entry, s *snapshot, now int64) (*snapshot, error) {
	e.mu.Lock()
	cause := e.lastErr
	first := false
	if cause != nil && c.servable(s, now) && !e.staleLogged {
		e.staleLogged, first = true, true
	}
	e.mu.Unlock()
	if cause == nil { // the episode ended meanwhile
		if s := e.snap.Load(); s != nil {
			return s.result()
		}
		return nil, fmt.Errorf("cache: %s %s: no version available", e.key.id, e.key.stage)
	}
	if c.servable(s, now) {
		c.st.stale.Add(1)
		e.tm.StaleServed(ctx)
		if first {
			c.logger().Warn("cache: serving a stale secret version while Secrets Manager fails",
				"secret", e.key.id, "stage", e.key.stage, "version", s.v.ID,
				"expired_ago", time.Duration(now-s.expireAt), "max_stale", c.cfg.maxStale,
				"code", rotasafe.ErrorCode(cause), "error", cause)
		}
		return s, nil
	}
	if s == nil || s.err != nil {
		return nil, cause
	}
	return nil, fmt.Errorf("cache: %s %s: version %s expired %v ago, beyond MaxStale %v: %w",
		e.key.id, e.key.stage, s.v.ID, time.Duration(now-s.expireAt).Round(time.Millisecond), c.cfg.maxStale, cause)
}

// refreshAhead starts a background fetch of e unless one runs or a failure backs it off.
func (c *Cache) refreshAhead(ctx context.Context, e *entry, now int64) {
	if now < e.retryAt.Load() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.call == nil {
		c.start(ctx, e, reason{}) // on a closed Cache nothing starts; the read is still answered
	}
}

// wait joins the fetch of e in flight, or starts one, and waits for it within ctx.
func (c *Cache) wait(ctx context.Context, e *entry) (*snapshot, error) {
	e.mu.Lock()
	cl := e.call
	if cl == nil {
		cl = c.start(ctx, e, reason{})
	}
	e.mu.Unlock()
	return c.await(ctx, cl)
}

// reread is a forced fetch of e for why (a rejected version, or Refresh). The first forced
// fetch for a reason starts at once; later ones for the same reason join it while it runs. Once it has answered, they share its answer: for
// MinRefreshInterval from its start when the answer is the rejected version itself
// (nothing newer to try; after the interval a new fetch may find one), and for as long as
// the reason is remembered when it is another version (that version is what to try; if it
// is rejected too, that is a new reason). A newer answer installed in e meanwhile is
// preferred. So a herd that found one version rejected makes one call however long its
// logins take, each newly rejected version (back-to-back rotations) makes its own, and a
// version rejected over and over makes one per interval.
func (c *Cache) reread(ctx context.Context, e *entry, why reason) (*snapshot, error) {
	e.mu.Lock()
	var cl *call
	if i := slices.IndexFunc(e.rereads, func(r reread) bool { return r.why == why }); i >= 0 {
		r := e.rereads[i]
		switch {
		case !r.call.settled:
			cl = r.call // join the fetch in flight
		case why.kind == rejected && r.call.err == nil && r.call.snap != nil && r.call.snap.err == nil && !why.rejects(r.call.snap.v.ID):
			s := r.call.snap
			if cur := e.snap.Load(); cur != nil && cur.err == nil && cur.started > s.started && !why.rejects(cur.v.ID) {
				s = cur
			}
			e.mu.Unlock()
			c.hits.inc()
			return s, nil
		case c.now()-r.call.started < int64(c.cfg.minForced):
			cl = r.call
		default:
			e.rereads = slices.Delete(e.rereads, i, i+1)
		}
	}
	if cl == nil {
		cl = c.start(ctx, e, why)
	}
	e.mu.Unlock()
	return c.await(ctx, cl)
}

// await waits for cl within ctx; a nil cl means the Cache is closed.
func (c *Cache) await(ctx context.Context, cl *call) (*snapshot, error) {
	if cl == nil {
		return nil, ErrClosed
	}
	select {
	case <-cl.done:
		return cl.snap, cl.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// start launches a fetch of e for why: a normal one becomes e.call, a forced one is
// remembered among e.rereads. e.mu is held. It returns nil on a closed Cache.
func (c *Cache) start(ctx context.Context, e *entry, why reason) *call {
	cl := &call{done: make(chan struct{}), started: c.now(), why: why}
	// The fetch outlives its first caller: keep ctx's values, not its cancellation.
	fctx := context.WithoutCancel(ctx)
	if !c.goBG(func() { c.run(fctx, e, cl) }) {
		return nil
	}
	if !why.forced() {
		e.call = cl
		return cl
	}
	e.rereads = append(e.rereads, reread{why: why, call: cl})
	if len(e.rereads) > maxRereads {
		e.rereads = slices.Delete(e.rereads, 0, 1)
	}
	return cl
}

// run performs one GetSecretValue for e and settles its answer.
func (c *Cache) run(ctx context.Context, e *entry, cl *call) {
	v, err := c.fetch(ctx, e.key.id, "", e.key.stage)
	c.settle(e, cl, v, err)
}

// fetch performs one GetSecretValue of secret id: version versionID, or else the version
// that holds stage. It is the one way the Cache calls Secrets Manager, for its entries and
// for rotation notices alike: bounded by the fetch timeout, cut short by Close (which it
// reports as ErrClosed), counted in Stats (APICalls, Reads by stage, Errors), and recorded
// in rotasafe.cache.reads and rotasafe.cache.read.duration.
func (c *Cache) fetch(ctx context.Context, id, versionID, stage string) (rotasafe.Version, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.fetchTimeout)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel) // Close cuts the fetch short
	defer stop()
	c.st.apiCalls.Add(1)
	c.st.reads.Add(stage)
	start := time.Now()
	v, err := rotasafe.Fetch(ctx, c.api, id, versionID, stage)
	c.recorder(id, stage).Read(ctx, readOutcome(err), time.Since(start))
	switch {
	case err == nil:
		return v, nil
	case c.ctx.Err() != nil:
		return rotasafe.Version{}, ErrClosed
	}
	c.st.errors.Add(1)
	return rotasafe.Version{}, err
}

// recorder returns the metrics recorder of the reads of stage of secret id: its entry's, or
// for a read by version ID (a notice's) or of an entry evicted meanwhile, a new one.
func (c *Cache) recorder(id, stage string) *telemetry.CacheEntry {
	if e, ok := c.entryFor(id, stage); ok {
		return e.tm
	}
	return c.tm.Entry(id, stage)
}

// readOutcome is the rotasafe.outcome of a GetSecretValue call that returned err.
func readOutcome(err error) telemetry.ReadOutcome {
	switch {
	case err == nil:
		return telemetry.ReadOK
	case rotasafe.IsNotFound(err):
		return telemetry.ReadNotFound
	case throttled(err):
		return telemetry.ReadThrottled
	}
	return telemetry.ReadError
}

// settle records a fetch's answer in e, then acts on what it learned and wakes the callers
// waiting on cl. Each kind of answer has its own method, which runs with e.mu held and
// returns what to do after unlocking (log, learn); nothing here does I/O.
func (c *Cache) settle(e *entry, cl *call, v rotasafe.Version, err error) {
	var after func()
	e.mu.Lock()
	old := e.snap.Load()
	switch {
	case old != nil && old.started > cl.started && !errors.Is(err, ErrClosed):
		// A fetch that started later (a forced one overtaking a slow normal one) already
		// answered: its answer is newer than this one, whatever this one says.
		cl.snap = old
	case err == nil:
		after = c.settleVersion(e, cl, old, v)
	case errors.Is(err, ErrClosed):
		cl.err = err
	case transient(err):
		c.settleTransient(e, cl, err)
	default:
		c.settleAnswer(e, cl, old, err)
	}
	cl.settled = true
	if !cl.why.forced() {
		e.call = nil
	}
	e.mu.Unlock()
	if after != nil {
		after()
	}
	close(cl.done)
}

// settleVersion installs a fetched version and ends any failure episode. It returns what to
// do once e.mu is released: learn from the version's labels, log the end of an episode.
func (c *Cache) settleVersion(e *entry, cl *call, old *snapshot, v rotasafe.Version) func() {
	s := c.fresh(e.key.stage, v, cl.started)
	c.install(e, old, s)
	cl.snap = s
	recovered, failures := e.staleLogged, e.failures
	e.failures, e.lastErr, e.staleLogged = 0, nil, false
	e.retryAt.Store(0)
	if old != nil && old.err == nil {
		c.st.refreshes.Add(1)
	}
	moved := e.key.stage == rotasafe.StageCurrent && old != nil && old.err == nil && old.v.ID != v.ID
	return func() {
		if moved {
			c.forgetOthers(e.key.id, cl.started)
		}
		if e.key.stage != rotasafe.StageCurrent {
			c.learn(e.key.id, v, cl.started)
		}
		if recovered {
			c.logger().Info("cache: Secrets Manager answers again; stale episode over",
				"secret", e.key.id, "stage", e.key.stage, "version", v.ID, "failures", failures)
		}
	}
}

// settleTransient starts or continues a failure episode: the version cached stays
// servable within MaxStale, and the next fetch waits for the backoff.
func (c *Cache) settleTransient(e *entry, cl *call, err error) {
	e.failures++
	e.lastErr = err
	e.retryAt.Store(c.now() + int64(c.nextBackoff(e)))
	cl.err = err
}

// settleAnswer records an answer about the secret itself (not found, access denied, ...):
// the version is dropped and the error remembered, a missing stage for NegativeTTL,
// anything else for a backoff.
func (c *Cache) settleAnswer(e *entry, cl *call, old *snapshot, err error) {
	e.failures++
	life := c.cfg.negativeTTL
	if !rotasafe.IsNotFound(err) {
		life = c.nextBackoff(e)
	}
	now := c.now()
	s := &snapshot{err: err, started: cl.started, refreshAt: now + int64(life), expireAt: now + int64(life)}
	c.install(e, old, s)
	e.lastErr, e.staleLogged = nil, false
	e.retryAt.Store(0)
	cl.snap = s
}

// fresh returns the snapshot of a version of stage fetched by a fetch that began at
// started: fresh for the TTL (AWSPENDING, which moves with every rotation, for NegativeTTL),
// jittered, and refreshed ahead of expiry.
func (c *Cache) fresh(stage string, v rotasafe.Version, started int64) *snapshot {
	ttl := c.cfg.ttl
	if stage == rotasafe.StagePending {
		ttl = c.cfg.negativeTTL
	}
	ttl = time.Duration(float64(ttl) * (1 + jitter*(2*c.float()-1)))
	s := &snapshot{v: v, started: started, expireAt: c.now() + int64(ttl)}
	s.refreshAt = s.expireAt - int64(float64(ttl)*c.cfg.ahead)
	return s
}

// nextBackoff returns the wait after e's latest consecutive failure: the failure policy's
// waits (retry.Policy with equal jitter, 1 s doubling up to 30 s). e.mu is held.
func (c *Cache) nextBackoff(e *entry) time.Duration {
	if e.failures <= 1 || e.waits == nil {
		e.waits = failurePolicy.NewBackOff()
	}
	return e.waits.NextBackOff()
}

// install makes s the snapshot of e, moving the parsed-value memo along: kept when the
// version is the same, else a new one. e.mu is held; install takes c.mu (the lock order is
// entry, then cache: see Cache).
func (c *Cache) install(e *entry, old, s *snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !e.gone {
		if s.err == nil {
			if old != nil && old.memo != nil && old.err == nil && old.v.ID == s.v.ID && old.v.ARN == s.v.ARN {
				s.memo = old.memo
				old = nil // the reference moves, nothing to release
			} else {
				s.memo = c.acquire(e.key.id, s.v)
			}
		}
		if old != nil {
			c.release(old.memo)
		}
		c.lru.Get(e.key) // recency: fetched just now
	}
	e.snap.Store(s)
}

// forgetOthers expires the AWSPENDING and AWSPREVIOUS entries of a secret whose AWSCURRENT
// moved, as seen by a fetch that began at started: the labels moved with it. Answers that
// began later are kept.
func (c *Cache) forgetOthers(id string, started int64) {
	for _, stage := range []string{rotasafe.StagePending, rotasafe.StagePrevious} {
		if e, ok := c.entryFor(id, stage); ok {
			c.expire(e, started)
		}
	}
}

// expire makes e's snapshot expired if it came from a fetch that began before started, so
// that the next read fetches it anew. The memo reference stays with it.
func (c *Cache) expire(e *entry, started int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.snap.Load()
	if s == nil || s.expireAt == 0 || s.started >= started {
		return false
	}
	ns := *s
	ns.refreshAt, ns.expireAt = 0, 0
	e.snap.Store(&ns)
	return true
}

// learn checks the AWSCURRENT entry of id against the labels of v, a version read under
// another stage by a fetch that began at started: Secrets Manager answers with every label
// of the version, so such an answer is the service's own word on where AWSCURRENT is.
//   - v holds AWSCURRENT and the cache holds another version (finishSecret moved the label a
//     moment ago): v becomes the cached AWSCURRENT, with no further call.
//   - v is the cached AWSCURRENT but no longer holds the label: the cached AWSCURRENT
//     expires, and the next read fetches it.
//
// Either way the floor on forced reads of AWSCURRENT is lifted: it guards against callers'
// guesses, not against the service's word.
func (c *Cache) learn(id string, v rotasafe.Version, started int64) {
	e, ok := c.entryFor(id, rotasafe.StageCurrent)
	if !ok {
		return
	}
	e.mu.Lock()
	s := e.snap.Load()
	if s != nil && s.started > started {
		e.mu.Unlock()
		return // a newer answer than v
	}
	cached := s != nil && s.err == nil
	holds := v.HasStage(rotasafe.StageCurrent)
	var what string
	switch {
	case holds && (!cached || s.v.ID != v.ID):
		ns := c.fresh(rotasafe.StageCurrent, v, started)
		c.install(e, s, ns)
		what = "installed"
	case !holds && cached && s.v.ID == v.ID && s.expireAt > 0:
		ns := *s
		ns.refreshAt, ns.expireAt = 0, 0
		e.snap.Store(&ns)
		what = "expired"
	}
	if what != "" {
		e.rereads = nil
	}
	e.mu.Unlock()
	if what == "" {
		return
	}
	if what == "installed" && cached {
		c.st.refreshes.Add(1)
		c.forgetOthers(id, started)
	}
	var cachedID string
	if cached {
		cachedID = s.v.ID
	}
	c.logger().Debug("cache: AWSCURRENT moved, learned from another label's answer",
		"secret", id, "cached_version", cachedID, "version", v.ID, "stages", v.Stages, "action", what)
}

// transient reports whether err says Secrets Manager could not answer (a network error, a
// server error, throttling, the SDK giving up on those, the fetch's own timeout), as opposed
// to an answer about the secret. Only transient errors are bridged with stale versions.
func transient(err error) bool {
	if err == nil || errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled) {
		return false
	}
	if throttled(err) {
		return true
	}
	switch rotasafe.ErrorCode(err) {
	case "InternalServiceError", "InternalFailure", "InternalServerError",
		"ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException":
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorFault() == smithy.FaultServer {
		return true
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return true
	}
	if ae != nil {
		return false // an answer from the service about the request
	}
	var se *smithyhttp.RequestSendError
	var ne net.Error
	var qe ratelimit.QuotaExceededError
	return errors.As(err, &se) || errors.As(err, &ne) || errors.As(err, &qe) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF)
}

// throttled reports whether err is Secrets Manager (or the SDK on its behalf) throttling
// the caller.
func throttled(err error) bool {
	switch rotasafe.ErrorCode(err) {
	case "ThrottlingException", "Throttling", "LimitExceededException", "TooManyRequestsException",
		"RequestLimitExceeded", "RequestThrottled", "RequestThrottledException":
		return true
	}
	return false
}
