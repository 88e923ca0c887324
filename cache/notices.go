package cache

import (
	"context"
	"slices"
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
//   - on notice.PendingStored, the cache reads the new version by ID, at a random moment
//     within the notice's lead (rotate.WithNoticeLead), or within the notice window
//     (WithNoticeWindow) when the notice carries no lead, so that a fleet does not read at
//     one instant;
//   - on notice.PasswordChanging, if that read found the version labelled AWSPENDING, new
//     logins wait (Prefer holds them) until notice.PasswordChanged, at most the hold bound
//     (WithNoticeHold), once per version; open connections are not touched;
//   - on notice.PasswordChanged, that version becomes the one Prefer offers: clients try it
//     first (a login that starts while it is being read waits for the read);
//   - on notice.Finished, a version read as AWSPENDING becomes the cached AWSCURRENT with no
//     further call, confirmed by the next normal refresh; and whenever a read shows that the
//     new version holds AWSCURRENT, the cache's AWSCURRENT moves to it.
//
// A notice only reorders what clients try, and when: every version it names is read from
// Secrets Manager, and used only if it holds AWSPENDING or AWSCURRENT there; the database
// has the last word, and a version it rejects is not offered again. Notices for secrets the
// cache has not read are ignored, and the reads notices cause are bounded per secret (three
// at once, then one per MinRefreshInterval), so forged notices cannot storm Secrets Manager,
// and a forged password-changing notice holds logins for at most the hold bound, once per
// version. Lost notices cost nothing but the notice: the pull path (Reread after a rejected
// login) stays as it is. Reads of announced versions are counted in Stats as APICalls and
// Reads.Other.
//
// What a notice costs: one read per instance per rotation, as pulling does, and no rejected
// login when the rotator announces ahead. A fleet of N instances reads at about N ÷ lead
// requests a second, so size the rotator's lead to at least N ÷ the account's
// GetSecretValue quota per second (without a lead, the same for the notice window), and
// the hold to the rotator's settle plus its password change, with room (2 s by default).
//
// The Cache subscribes on a goroutine of its own until Close, subscribing again (after
// waits growing to 30 s, logged) when t's Subscribe returns; that goroutine keeps a Cache
// that is dropped without Close alive. A nil t leaves notices off.
func WithNotices(t notice.Transport) Option { return func(c *config) { c.notices = t } }

// WithNoticeWindow sets the window over which the reads asked for by rotation notices without
// a lead are spread (WithNotices). 0 reads at once; a negative d makes New panic. The
// default is DefaultNoticeWindow (1 s).
func WithNoticeWindow(d time.Duration) Option {
	return func(c *config) {
		mustNotBeNegative("WithNoticeWindow", d)
		c.noticeWindow = d
	}
}

// DefaultNoticeHold bounds how long new logins wait between a password-changing notice and
// the password-changed one (WithNoticeHold).
const DefaultNoticeHold = 2 * time.Second

// WithNoticeHold bounds how long new logins wait after a notice.PasswordChanging for the
// password change to be announced done (WithNotices): past it they go on as without notices
// (the pull path). It should exceed the rotator's settle (rotate.WithNoticeSettle) plus its
// password change. 0 holds no login; a negative d makes New panic. The default is
// DefaultNoticeHold (2 s).
func WithNoticeHold(d time.Duration) Option {
	return func(c *config) {
		mustNotBeNegative("WithNoticeHold", d)
		c.noticeHold = d
	}
}

// maxHeld is how many versions a secret remembers having held logins for.
const maxHeld = 8

// notices is the state of a Cache that listens to rotation notices.
type notices struct {
	t        notice.Transport
	bySecret sync.Map // secret ARN -> *hints
	received atomic.Uint64
	holds    atomic.Uint64
}

// hints is what notices said about the rotations of one secret.
type hints struct {
	prefer  atomic.Pointer[rotasafe.Version] // the newest version the database takes, read and checked; nil: none
	waiting atomic.Pointer[hintRead]         // a read of a changed version in flight: Prefer waits for it
	hold    atomic.Pointer[hold]             // new logins wait for it while it is not released; nil: none

	mu      sync.Mutex // guards the fields below
	latest  *announced // the version the latest notice named
	held    []string   // the versions logins were held for, the latest maxHeld
	tokens  float64    // reads allowed now (a token bucket of noticeBurst)
	refills int64      // when tokens was last refilled, ns since the Cache's epoch
}

// hold makes new logins wait while a version's password changes. done is closed when the
// change is announced done or the hold bound passes, whichever comes first.
type hold struct {
	version string
	done    chan struct{}
	once    sync.Once
}

func (x *hold) release() { x.once.Do(func() { close(x.done) }) }

// announced is one version a notice named.
type announced struct {
	id        string
	changing  bool      // PasswordChanging: hold logins once the read shows the version AWSPENDING
	changed   bool      // PasswordChanged or Finished: the database takes it
	finished  bool      // Finished: it is AWSCURRENT
	scheduled bool      // a spread read of it is waiting
	installed bool      // it was installed as AWSCURRENT on a finished notice
	spent     bool      // a client reported it rejected: Reread no longer answers with it
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
	r := a.read
	switch n.Kind {
	case notice.PendingStored:
		if r == nil {
			window := c.cfg.noticeWindow
			if n.Lead > 0 {
				window = n.Lead // a read still under way at PasswordChanging holds once done
			}
			c.spreadRead(h, a, id, window)
		}
	case notice.PasswordChanging:
		if a.changed || a.changing || c.cfg.noticeHold <= 0 {
			return // after the change (reordered), repeated, or holds are off
		}
		a.changing = true
		switch {
		case r == nil || isDone(r) && !r.ok && r.v.ID == "":
			c.readHint(h, a, id) // hold once it shows the version AWSPENDING
		case isDone(r):
			c.startHold(h, a, r)
		}
	case notice.PasswordChanged, notice.Finished:
		a.changed = true
		if n.Kind == notice.Finished {
			a.finished = true
		}
		// The hold ends once Prefer has what to offer (or to wait for): the version read, or
		// its read in flight.
		if x := h.hold.Load(); x != nil && x.version == a.id {
			defer x.release()
		}
		switch {
		case r == nil || isDone(r) && !r.ok && r.v.ID == "":
			// Not read yet (or the read failed): logins need it now.
			c.readHint(h, a, id)
		case !isDone(r):
			h.waiting.Store(r) // logins wait for the read in flight
		case r.ok:
			h.prefer.Store(&r.v)
			c.installFinished(a, r, id)
		}
	}
}

// startHold makes new logins wait for the password change of a, when its read r showed it
// AWSPENDING, and logins were not held for it before. The hold ends on a's PasswordChanged
// or Finished notice, or after the hold bound. h.mu is held.
func (c *Cache) startHold(h *hints, a *announced, r *hintRead) {
	if !a.changing || a.changed || !r.ok || !r.v.HasStage(rotasafe.StagePending) || r.v.HasStage(rotasafe.StageCurrent) ||
		slices.Contains(h.held, a.id) {
		return
	}
	h.held = append(h.held, a.id)
	if len(h.held) > maxHeld {
		h.held = slices.Delete(h.held, 0, 1)
	}
	x := &hold{version: a.id, done: make(chan struct{})}
	if !c.goBG(func() {
		_ = c.sleep(c.ctx, c.cfg.noticeHold)
		x.release()
		h.hold.CompareAndSwap(x, nil)
	}) {
		return
	}
	h.hold.Store(x)
	c.nt.holds.Add(1)
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

// spreadRead reads a at a random moment within window, unless a read of it starts before
// that. h.mu is held.
func (c *Cache) spreadRead(h *hints, a *announced, id string, window time.Duration) {
	if a.scheduled {
		return
	}
	a.scheduled = true
	before := a.read
	delay := time.Duration(c.float() * float64(window))
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

// installFinished makes a the cached AWSCURRENT once a finished notice and a read agree: a
// was announced finished, and r showed that it is the rotation's AWSPENDING version. No call:
// finishSecret moves AWSCURRENT to the pending version, and the next normal refresh
// confirms it (a forged finished notice costs at most a rejected login and the walk's
// reads, once per version). h.mu is held.
func (c *Cache) installFinished(a *announced, r *hintRead, id string) {
	if !a.finished || a.installed || !r.ok || r.v.HasStage(rotasafe.StageCurrent) || !r.v.HasStage(rotasafe.StagePending) {
		return
	}
	a.installed = true
	v := r.v
	v.Stages = append(slices.Clone(v.Stages), rotasafe.StageCurrent)
	c.learn(id, v, c.now())
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
	c.startHold(h, a, r)
	c.installFinished(a, r, id)
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
// AWSCURRENT (rotasafe.Preferrer documents the method). ok is false without notices
// (WithNotices), or when no such version is known. While the password is changing (between
// a password-changing notice and the password-changed one) Prefer waits for the change,
// within ctx and at most the hold bound (WithNoticeHold); when the version is being read, it
// waits for the read, within ctx and at most a second.
func (c *Cache) Prefer(ctx context.Context, secretID string) (v rotasafe.Version, ok bool) {
	h, s, found := c.hintsOf(secretID)
	if !found {
		return rotasafe.Version{}, false
	}
	if x := h.hold.Load(); x != nil {
		select { // the password is changing: wait for the change (the hold bound ends the wait)
		case <-x.done:
		case <-ctx.Done():
		}
	}
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

// hintsOf returns what notices said about secretID, and the AWSCURRENT snapshot cached for
// it; found is false without notices, or when neither is there.
func (c *Cache) hintsOf(secretID string) (h *hints, s *snapshot, found bool) {
	if c.nt == nil {
		return nil, nil, false
	}
	e, found := c.entryFor(secretID, rotasafe.StageCurrent)
	if !found {
		return nil, nil, false
	}
	s = e.snap.Load()
	if s == nil || s.err != nil {
		return nil, nil, false
	}
	x, found := c.nt.bySecret.Load(s.v.ARN)
	if !found {
		return nil, nil, false
	}
	return x.(*hints), s, true
}

// announcedPending returns the version of secretID that the latest notice announced, when
// the cache read it by ID, found it labelled AWSPENDING (and not AWSCURRENT), no finished
// notice came for it, and no client reported it rejected (rejectedID names it, or did
// before): the answer a read of AWSPENDING after rejectedID's rejection would give.
func (c *Cache) announcedPending(secretID, rejectedID string) (rotasafe.Version, bool) {
	h, _, found := c.hintsOf(secretID)
	if !found {
		return rotasafe.Version{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.latest
	if a == nil || a.read == nil || !isDone(a.read) || a.finished || a.spent {
		return rotasafe.Version{}, false
	}
	if a.id == rejectedID {
		// It was rejected: a rotation began since with its notices lost. Read from now on.
		a.spent = true
		return rotasafe.Version{}, false
	}
	r := a.read
	if !r.ok || !r.v.HasStage(rotasafe.StagePending) || r.v.HasStage(rotasafe.StageCurrent) {
		return rotasafe.Version{}, false
	}
	return r.v, true
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

// noticeHolds counts the holds of new logins begun so far.
func (c *Cache) noticeHolds() uint64 {
	if c.nt == nil {
		return 0
	}
	return c.nt.holds.Load()
}

// noticesReceived counts the notices received so far.
func (c *Cache) noticesReceived() uint64 {
	if c.nt == nil {
		return 0
	}
	return c.nt.received.Load()
}
