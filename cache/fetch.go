package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rotasafe/rotasafe"
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
			return c.stale(e, s, now)
		}
		if c.servable(s, now) {
			c.refreshAhead(ctx, e, now)
			return c.stale(e, s, now)
		}
	}

	c.st.misses.Add(1)
	ns, err := c.wait(ctx, e, false)
	switch {
	case err == nil:
		return ns.result()
	case ctx.Err() != nil || errors.Is(err, ErrClosed):
		return nil, err
	case transient(err):
		// Judge staleness as of when the read came in, not after the SDK's retries.
		return c.stale(e, s, now)
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
func (c *Cache) stale(e *entry, s *snapshot, now int64) (*snapshot, error) {
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
		if first {
			c.cfg.logger.Warn("cache: serving a stale secret version while Secrets Manager fails",
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
	if e.busy.Load() || now < e.retryAt.Load() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.call == nil {
		c.start(ctx, e, false) // on a closed Cache nothing starts; the read is still answered
	}
}

// wait joins the fetch of e in flight, or starts one, and waits for it within ctx. A forced
// fetch honours the floor between forced fetches: inside it, the last forced answer is shared.
func (c *Cache) wait(ctx context.Context, e *entry, forced bool) (*snapshot, error) {
	e.mu.Lock()
	cl := e.call
	if forced {
		cl = e.forced
		if cl == nil && e.lastForced != nil && c.now()-e.forcedStart < int64(c.cfg.minForced) {
			cl = e.lastForced
		}
	}
	if cl == nil {
		cl = c.start(ctx, e, forced)
	}
	e.mu.Unlock()
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

// start launches a fetch of e; e.mu is held. It returns nil on a closed Cache.
func (c *Cache) start(ctx context.Context, e *entry, forced bool) *call {
	cl := &call{done: make(chan struct{}), started: c.now()}
	// The fetch outlives its first caller: keep ctx's values, not its cancellation.
	fctx := context.WithoutCancel(ctx)
	if !c.goBG(func() { c.run(fctx, e, cl, forced) }) {
		return nil
	}
	if forced {
		e.forced, e.forcedStart = cl, cl.started
	} else {
		e.call = cl
		e.busy.Store(true)
	}
	return cl
}

// run performs one GetSecretValue for e and settles its answer.
func (c *Cache) run(ctx context.Context, e *entry, cl *call, forced bool) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.fetchTimeout)
	stop := context.AfterFunc(c.ctx, cancel) // Close cuts the fetch short
	c.st.apiCalls.Add(1)
	v, err := rotasafe.Fetch(ctx, c.api, e.key.id, "", e.key.stage)
	stop()
	cancel()
	if err != nil && c.ctx.Err() != nil {
		err = ErrClosed
	}
	c.settle(e, cl, forced, v, err)
}

// settle records a fetch's answer in e, then wakes the callers waiting on cl.
func (c *Cache) settle(e *entry, cl *call, forced bool, v rotasafe.Version, err error) {
	var logRecovered bool
	var prevFailures int
	var moved, learned bool
	e.mu.Lock()
	now := c.now()
	old := e.snap.Load()
	switch {
	case old != nil && old.started > cl.started && !errors.Is(err, ErrClosed):
		// A fetch that started later (a forced one overtaking a slow normal one) already
		// answered: its answer is newer than this one, whatever this one says.
		cl.snap = old
	case err == nil:
		ttl := c.cfg.ttl
		if e.key.stage == rotasafe.StagePending {
			ttl = c.cfg.negativeTTL
		}
		ttl = time.Duration(float64(ttl) * (1 + jitter*(2*c.float()-1)))
		s := &snapshot{v: v, started: cl.started, expireAt: now + int64(ttl)}
		s.refreshAt = s.expireAt - int64(float64(ttl)*c.cfg.ahead)
		c.install(e, old, s)
		cl.snap = s
		logRecovered, prevFailures = e.staleLogged, e.failures
		e.failures, e.lastErr, e.staleLogged = 0, nil, false
		e.retryAt.Store(0)
		if old != nil && old.err == nil {
			c.st.refreshes.Add(1)
		}
		moved = e.key.stage == rotasafe.StageCurrent && old != nil && old.err == nil && old.v.ID != v.ID
		learned = e.key.stage != rotasafe.StageCurrent
	case errors.Is(err, ErrClosed):
		cl.err = err
	case transient(err):
		c.st.errors.Add(1)
		e.failures++
		e.lastErr = err
		e.retryAt.Store(now + int64(c.backoff(e.failures)))
		cl.err = err
	default:
		// The answer is about the secret itself: drop the version and remember the error,
		// a missing stage for NegativeTTL, anything else for a backoff.
		c.st.errors.Add(1)
		e.failures++
		life := c.cfg.negativeTTL
		if !rotasafe.IsNotFound(err) {
			life = c.backoff(e.failures)
		}
		s := &snapshot{err: err, started: cl.started, refreshAt: now + int64(life), expireAt: now + int64(life)}
		c.install(e, old, s)
		e.lastErr, e.staleLogged = nil, false
		e.retryAt.Store(0)
		cl.snap = s
	}
	if forced {
		e.forced, e.lastForced = nil, cl
	} else {
		e.call = nil
		e.busy.Store(false)
	}
	e.mu.Unlock()
	if moved {
		c.forgetOthers(e.key.id)
	}
	if learned {
		c.learn(e.key.id, v, cl.started)
	}
	if logRecovered {
		c.cfg.logger.Info("cache: Secrets Manager answers again; stale episode over",
			"secret", e.key.id, "stage", e.key.stage, "version", v.ID, "failures", prevFailures)
	}
	close(cl.done)
}

// install makes s the snapshot of e, moving the parsed-value memo along: kept when the
// version is the same, else a new one. e.mu is held.
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
// moved: the labels moved with it.
func (c *Cache) forgetOthers(id string) {
	for _, stage := range []string{rotasafe.StagePending, rotasafe.StagePrevious} {
		e, ok := c.entryFor(id, stage)
		if !ok {
			continue
		}
		e.mu.Lock()
		if s := e.snap.Load(); s != nil && s.expireAt > 0 {
			ns := *s
			ns.refreshAt, ns.expireAt = 0, 0
			e.snap.Store(&ns) // same memo reference, now expired
		}
		e.mu.Unlock()
	}
}

// learn checks the AWSCURRENT entry of id against the labels of v, a version fetched under
// another stage by a fetch that started at started: Secrets Manager answers with every label
// of the version. When the answer contradicts the cached AWSCURRENT (v is that version but no
// longer holds the label, or v holds it and the cache has another version), the cached
// AWSCURRENT is stale, typically because finishSecret moved the label a moment ago. The entry
// then expires, and its refresh floor is lifted: the floor guards against callers' guesses,
// not against the service's own word, and labels move only when a rotation does.
func (c *Cache) learn(id string, v rotasafe.Version, started int64) {
	e, ok := c.entryFor(id, rotasafe.StageCurrent)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.snap.Load()
	if s == nil || s.err != nil || s.expireAt == 0 || s.started > started {
		return // nothing cached, or expired already, or a newer answer than v
	}
	if (s.v.ID == v.ID) == v.HasStage(rotasafe.StageCurrent) {
		return // consistent
	}
	ns := *s
	ns.refreshAt, ns.expireAt = 0, 0
	e.snap.Store(&ns) // same memo reference, now expired
	e.lastForced = nil
	c.cfg.logger.Debug("cache: AWSCURRENT moved, learned from another label",
		"secret", id, "cached_version", s.v.ID, "version", v.ID, "stages", v.Stages)
}

// backoff returns the wait after the n-th consecutive failure: jittered in [d/2, d], d
// doubling from backoffBase up to backoffMax.
func (c *Cache) backoff(n int) time.Duration {
	d := backoffBase
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	return d/2 + time.Duration(c.float()*float64(d/2))
}

// transient reports whether err says Secrets Manager could not answer (a network error, a
// server error, throttling, the SDK giving up on those, the fetch's own timeout), as opposed
// to an answer about the secret. Only transient errors are bridged with stale versions.
func transient(err error) bool {
	if err == nil || errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled) {
		return false
	}
	switch rotasafe.ErrorCode(err) {
	case "ThrottlingException", "Throttling", "LimitExceededException", "TooManyRequestsException",
		"RequestLimitExceeded", "RequestThrottled", "RequestThrottledException",
		"InternalServiceError", "InternalFailure", "InternalServerError",
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
