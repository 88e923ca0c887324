package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/notice"
	"github.com/rotasafe/rotasafe/retry"
)

// DefaultNoticeWindow is the window over which a Cache spreads the reads that rotation
// notices ask for (WithNoticeWindow).
const DefaultNoticeWindow = time.Second

// preferWait bounds how long Prefer waits for the read of an announced version: a notice
// must never hold logins back for long, whatever Secrets Manager does.
const preferWait = time.Second

// noticeBurst is how many reads of announced versions notices may cause for one secret at
// once; after it, one more per MinRefreshInterval. A rotation needs one.
const noticeBurst = 3

// resubscribe paces new Subscribe calls after the transport gave up.
var resubscribe = retry.Policy{Initial: time.Second, Max: 30 * time.Second, Jitter: retry.Equal}

// WithNotices makes the Cache listen to rotation notices on t (see package notice), so that
// the clients reading through it (sqlconn, redisconn, pgxpoolconn) log in with the new
// password as soon as the database takes it, instead of finding out from a rejected login:
//
//   - on notice.PendingStored, the cache reads the new version, at a random moment within
//     the notice window (WithNoticeWindow) so that a fleet does not read at one instant;
//   - on notice.PasswordChanged, that version becomes the one Prefer offers: clients try it
//     first (a login that starts while it is being read waits for the read);
//   - on notice.Finished, the cache reads AWSCURRENT once, again at a random moment within
//     the window; and whenever a read shows that the new version holds AWSCURRENT, the
//     cache's AWSCURRENT moves to it without another call.
//
// A notice only reorders what clients try: every version it names is read from Secrets
// Manager, and used only if it holds AWSPENDING or AWSCURRENT there; the database has the
// last word, and a version it rejects is not offered again. Notices for secrets the cache
// has not read are ignored, and the reads notices cause are bounded per secret (three at
// once, then one per MinRefreshInterval; the first read of AWSCURRENT after a version was
// proved real is free), so forged notices cannot storm Secrets Manager. Lost notices cost
// nothing but the notice: the pull path (Reread after a rejected login) stays as it is.
// Reads of announced versions are counted in Stats as APICalls and Reads.Other.
//
// Notices trade Secrets Manager calls for rejected logins: each instance reads the announced
// version and, after finished, AWSCURRENT: about two reads per rotation where pulling costs
// one (benchmarks/BENCHMARKS.md, section "The same rotation with rotation notices"). The
// reads of a fleet land within the notice window, so size it to at least the fleet's size
// divided by the account's GetSecretValue quota per second.
//
// The Cache subscribes on a goroutine of its own until Close, subscribing again (after
// waits growing to 30 s, logged) when t's Subscribe returns; that goroutine keeps a Cache
// that is dropped without Close alive. A nil t leaves notices off.
func WithNotices(t notice.Transport) Option { return func(c *config) { c.notices = t } }

// WithNoticeWindow sets the window over which the reads asked for by rotation notices are
// spread (WithNotices). 0 reads at once; a negative d makes New panic. The default is
// DefaultNoticeWindow (1 s).
func WithNoticeWindow(d time.Duration) Option {
	return func(c *config) {
		mustNotBeNegative("WithNoticeWindow", d)
		c.noticeWindow = d
	}
}

// notices is the state of a Cache that listens to rotation notices.
type notices struct {
	t        notice.Transport
	bySecret sync.Map // secret ARN -> *hints
	received atomic.Uint64
}

// hints is what notices said about the rotations of one secret.
type hints struct {
	prefer  atomic.Pointer[rotasafe.Version] // the newest version the database takes, read and checked; nil: none
	waiting atomic.Pointer[hintRead]         // a read of a changed version in flight: Prefer waits for it

	mu      sync.Mutex // guards the fields below
	latest  *announced // the version the latest notice named
	tokens  float64    // reads allowed now (a token bucket of noticeBurst)
	refills int64      // when tokens was last refilled, ns since the Cache's epoch
}

// announced is one version a notice named.
type announced struct {
	id        string
	changed   bool      // PasswordChanged or Finished: the database takes it
	finished  bool      // Finished: it is AWSCURRENT
	scheduled bool      // a spread read of it is waiting
	refreshed bool      // a read of AWSCURRENT was asked for, to learn that it moved
	read      *hintRead // the latest read of it, nil before the first
}

// hintRead is one read of an announced version. done is closed once v and ok are set.
type hintRead struct {
	done    chan struct{}
	started int64
	v       rotasafe.Version
	ok      bool // v holds AWSPENDING or AWSCURRENT
}

// listen subscribes to notices until the Cache closes.
func (c *Cache) listen() {
	b := resubscribe.NewBackOff()
	for {
		err := c.nt.t.Subscribe(c.ctx, c.onNotice)
		if c.ctx.Err() != nil {
			return
		}
		wait := b.NextBackOff()
		c.logger().Error("cache: rotation notices stopped; subscribing again", "wait", wait, "error", err)
		if c.sleep(c.ctx, wait) != nil {
			return
		}
	}
}

// onNotice acts on one notice. It runs on the transport's goroutine, so it only records
// what the notice says and starts reads; it never waits for one.
func (c *Cache) onNotice(n notice.Notice) {
	defer c.nt.received.Add(1) // counted once acted on, so that tests can wait for it
	id, cur, ok := c.secretOf(n.SecretARN)
	if ok { // rotasafe.notices.received counts the notices about secrets this cache reads
		c.tm.NoticeReceived(c.ctx, id, n.Kind)
	}
	if !ok || cur == n.VersionID {
		// A secret this cache does not read, or a version it knows is AWSCURRENT already
		// (a late or repeated notice).
		c.logger().Debug("cache: rotation notice ignored", "notice", n)
		return
	}
	c.logger().Debug("cache: rotation notice", "notice", n)
	x, _ := c.nt.bySecret.LoadOrStore(n.SecretARN, &hints{tokens: noticeBurst, refills: c.now()})
	h := x.(*hints)
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.latest
	if a == nil || a.id != n.VersionID {
		a = &announced{id: n.VersionID}
		h.latest = a
	}
	switch n.Kind {
	case notice.PendingStored:
		if a.read == nil {
			c.spreadRead(h, a, id)
		}
	case notice.PasswordChanged, notice.Finished:
		a.changed = true
		if n.Kind == notice.Finished {
			a.finished = true
		}
		r := a.read
		switch {
		case r == nil || isDone(r) && !r.ok && r.v.ID == "":
			// Not read yet (or the read failed): logins need it now.
			c.readHint(h, a, id)
		case !isDone(r):
			h.waiting.Store(r) // logins wait for the read in flight
		case r.ok:
			h.prefer.Store(&r.v)
			c.learnFinished(h, a, r, id)
		}
	}
}

// secretOf returns an ID this cache reads the secret with ARN arn under, and the ID of the
// AWSCURRENT version it holds.
func (c *Cache) secretOf(arn string) (id, current string, ok bool) {
	for k, e := range c.current.all() {
		if s := e.snap.Load(); s != nil && s.err == nil && s.v.ARN == arn {
			return k, s.v.ID, true
		}
	}
	return "", "", false
}

// spreadRead reads a at a random moment within the notice window, unless a read of it
// starts before that. h.mu is held.
func (c *Cache) spreadRead(h *hints, a *announced, id string) {
	if a.scheduled {
		return
	}
	a.scheduled = true
	before := a.read
	delay := time.Duration(c.float() * float64(c.cfg.noticeWindow))
	c.goBG(func() {
		if c.sleep(c.ctx, delay) != nil {
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		a.scheduled = false
		if a.read != before || h.latest != a {
			return // read meanwhile, or a newer version was announced
		}
		if cur, ok := c.currentID(id); ok && cur == a.id {
			return // AWSCURRENT is known to be it
		}
		c.readHint(h, a, id)
	})
}

// learnFinished makes the cache read AWSCURRENT, at a random moment within the notice
// window, once a finished notice and a read agree: a was announced finished, and r showed
// that it is a real version of the rotation (AWSPENDING) that did not hold AWSCURRENT yet
// when read. The first such read of a version is not counted against the allowance of
// reads (a read proved the version real); a repeated finished notice takes from it. h.mu is
// held.
func (c *Cache) learnFinished(h *hints, a *announced, r *hintRead, id string) {
	if !a.finished || !r.ok || r.v.HasStage(rotasafe.StageCurrent) {
		return
	}
	if a.refreshed && !c.allow(h, id, a.id) {
		return
	}
	a.refreshed = true
	delay := time.Duration(c.float() * float64(c.cfg.noticeWindow))
	c.goBG(func() {
		if c.sleep(c.ctx, delay) != nil {
			return
		}
		if cur, ok := c.currentID(id); ok && cur == a.id {
			return // learned meanwhile
		}
		e, err := c.entry(id, rotasafe.StageCurrent)
		if err != nil {
			return
		}
		// A read that began before the notice may miss the move: wait for one after it.
		if _, err := c.waitFresh(c.ctx, e); err != nil && c.ctx.Err() == nil {
			c.logger().Debug("cache: reading AWSCURRENT after a finished notice failed", "secret", id, "error", err)
		}
	})
}

// readHint starts a read of a, if the secret's allowance of reads has one left. h.mu is held.
func (c *Cache) readHint(h *hints, a *announced, id string) {
	if !c.allow(h, id, a.id) {
		return
	}
	r := &hintRead{done: make(chan struct{}), started: c.now()}
	if !c.goBG(func() {
		v, err := c.fetch(c.ctx, id, a.id, "")
		c.settleHint(h, a, r, id, v, err)
	}) {
		return
	}
	a.read = r
	if a.changed {
		h.waiting.Store(r)
	}
}

// allow takes one read from the secret's allowance: noticeBurst at once, refilled at one per
// MinRefreshInterval. h.mu is held.
func (c *Cache) allow(h *hints, id, version string) bool {
	if c.cfg.minForced <= 0 {
		return true
	}
	now := c.now()
	h.tokens = min(noticeBurst, h.tokens+float64(now-h.refills)/float64(c.cfg.minForced))
	h.refills = now
	if h.tokens < 1 {
		c.logger().Debug("cache: too many rotation notices; not reading", "secret", id, "version", version)
		return false
	}
	h.tokens--
	return true
}

// settleHint records the answer of r, the read of announced version a of secret id, as
// settle does for an entry's fetch: a version that holds AWSPENDING or AWSCURRENT becomes
// the one Prefer offers once the database takes it, and the cache learns from its labels.
func (c *Cache) settleHint(h *hints, a *announced, r *hintRead, id string, v rotasafe.Version, err error) {
	ok := err == nil && (v.HasStage(rotasafe.StagePending) || v.HasStage(rotasafe.StageCurrent))
	h.mu.Lock()
	r.v, r.ok = v, ok
	if ok && a.changed {
		h.prefer.Store(&r.v)
	}
	h.waiting.CompareAndSwap(r, nil)
	c.learnFinished(h, a, r, id)
	h.mu.Unlock()
	close(r.done)
	switch {
	case err != nil:
		c.logger().Debug("cache: reading the version a rotation notice named failed", "secret", id, "version", a.id, "error", err)
	case !ok:
		c.logger().Warn("cache: a rotation notice named a version that is neither AWSPENDING nor AWSCURRENT; ignored",
			"secret", id, "version", a.id, "stages", v.Stages)
	default:
		c.learn(id, v, r.started)
	}
}

// Prefer returns the version of secretID that rotation notices said the database takes now
// and that the cache holds no AWSCURRENT label on yet, so that a client tries it before
// AWSCURRENT (rotasafe.Source documents the method). ok is false without notices
// (WithNotices), or when no such version is known. When the version is being read, Prefer
// waits for the read, within ctx and at most a second.
func (c *Cache) Prefer(ctx context.Context, secretID string) (v rotasafe.Version, ok bool) {
	if c.nt == nil {
		return rotasafe.Version{}, false
	}
	e, found := c.entryFor(secretID, rotasafe.StageCurrent)
	if !found {
		return rotasafe.Version{}, false
	}
	s := e.snap.Load()
	if s == nil || s.err != nil {
		return rotasafe.Version{}, false
	}
	x, found := c.nt.bySecret.Load(s.v.ARN)
	if !found {
		return rotasafe.Version{}, false
	}
	h := x.(*hints)
	if r := h.waiting.Load(); r != nil && !isDone(r) {
		t := time.NewTimer(preferWait)
		select {
		case <-r.done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	p := h.prefer.Load()
	if p == nil || p.ID == s.v.ID {
		return rotasafe.Version{}, false
	}
	return *p, true
}

// currentID returns the ID of the AWSCURRENT version cached for id.
func (c *Cache) currentID(id string) (string, bool) {
	if e, ok := c.entryFor(id, rotasafe.StageCurrent); ok {
		if s := e.snap.Load(); s != nil && s.err == nil {
			return s.v.ID, true
		}
	}
	return "", false
}

func isDone(r *hintRead) bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// noticesReceived counts the notices received so far.
func (c *Cache) noticesReceived() uint64 {
	if c.nt == nil {
		return 0
	}
	return c.nt.received.Load()
}
