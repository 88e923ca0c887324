package login

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/telemetry"
)

// maxHops bounds the reads of one label in one round: each follows a rejection of the
// version the previous read named.
const maxHops = 3

// round is the state of one Login (or Recover) call across its rounds.
//
// The Try is not part of it but a parameter of its methods: a round's context (bctx) leaks
// from it, and escape analysis would take the Try, a closure of the caller's, along.
type round struct {
	w      *Walker
	giveUp time.Time  // when the policy's MaxElapsed ends the login; zero: never
	log    attemptLog // every attempt, for the ConnectError

	// A login whose context has no deadline ends by limit (see bound): bctx is that
	// context bounded by limit, made when first needed, and cancel releases it.
	limit  time.Time
	bctx   context.Context
	cancel context.CancelFunc
}

// bound gives a login whose ctx has no deadline one: the policy's MaxElapsed (or
// DefaultMaxElapsed) plus the attempt timeout from now, as pgx's stdlib Driver.Open bounds
// its connects. When lazy, the bounding context waits until the login goes past its first
// attempt (see bind): until then the attempt timeout bounds the attempt, the policy's
// MaxElapsed bounds the waits at the gate and the cache bounds its own reads, so the login
// that works at once (nearly every one) makes no context beyond its attempt's. The caller
// defers release.
func (r *round) bound(ctx context.Context, lazy bool) context.Context {
	if _, ok := ctx.Deadline(); ok {
		return ctx
	}
	r.limit = time.Now().Add(r.w.maxElapsed() + r.w.cfg.timeout)
	if lazy {
		return ctx
	}
	return r.bind(ctx)
}

// bind returns the login's context bounded by r.limit, made at the first call; ctx itself
// when it has a deadline: the login's own, or the bound's (ctx derives from bctx).
func (r *round) bind(ctx context.Context) context.Context {
	if r.limit.IsZero() {
		return ctx
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx
	}
	if r.bctx == nil {
		r.bctx, r.cancel = context.WithDeadlineCause(ctx, r.limit, r.w.noDeadline)
	}
	return r.bctx
}

// release frees the context bind made, if any.
func (r *round) release() {
	if r.cancel != nil {
		r.cancel()
	}
}

// result is how a round (or the rounds of a call) ended.
type result struct {
	v         rotasafe.Version // the version that logged in; set when err is nil
	currentID string           // AWSCURRENT as the round last learned it
	err       error            // why no version logged in; nil when v did
	// class says what follows a failure: ClassAuth, every version tried was rejected (the
	// gate closes and another round may follow); ClassTransient, the retry loop waits and
	// tries again; ClassOther, the login gives up with err.
	class rotasafe.Class
}

// giveUp returns a result that ends the login with err.
func giveUp(currentID string, err error) result {
	return result{currentID: currentID, err: err, class: rotasafe.ClassOther}
}

// rounds runs rounds of logins until one works, fails for another reason, or the gate turns
// the login away; first, when not nil, runs the first round instead of r.walk (Recover). A
// rejected round never ends it: its result is a transient failure (for the retry loop) or a
// give-up.
func (r *round) rounds(ctx context.Context, try Try, first func(context.Context, rotasafe.Version) result) result {
	w := r.w
	for n := 1; ; n++ {
		if n > 1 {
			ctx = r.bind(ctx)
		}
		cur, err := w.src.Get(ctx, w.secretID)
		if err != nil {
			return giveUp("", err)
		}
		t, err := w.gate.enter(ctx, cur.ID, r.giveUp)
		if err != nil {
			w.st.withheld.Add(1)
			return giveUp(cur.ID, err)
		}
		res := r.gated(ctx, try, cur, &t, first)
		if res.err == nil || res.class != rotasafe.ClassAuth {
			return res
		}
		w.logger().Debug(w.cfg.client+": every version was rejected", "secret", w.secretID, "current", res.currentID, "err", res.err)
		if limit := w.cfg.policy.MaxAttempts; limit > 0 && n >= limit {
			return giveUp(res.currentID, res.err)
		}
		w.st.retries.Add(1)
		first = nil
	}
}

// gated runs one round (first's, or else r.walk's) that t let through the gate and reports
// its outcome on t, even when the Try panics, so that a probe never leaves the others
// waiting.
func (r *round) gated(ctx context.Context, try Try, cur rotasafe.Version, t *ticket, first func(context.Context, rotasafe.Version) result) result {
	defer t.abandoned()
	var res result
	if first != nil {
		res = first(ctx, cur)
	} else {
		res = r.walk(ctx, try, cur)
	}
	switch {
	case res.err == nil:
		t.succeeded()
	case res.class == rotasafe.ClassAuth:
		t.rejected(res.currentID, res.err)
	}
	return res
}

// walk runs a round of Login: the chosen version, then the walk after its rejection.
func (r *round) walk(ctx context.Context, try Try, cur rotasafe.Version) result {
	w := r.w
	first := w.first(ctx, cur)
	o := r.attempt(ctx, try, first.v, first.stage)
	switch {
	case o.err == nil:
		w.stick(first)
		return result{v: first.v, currentID: cur.ID}
	case o.unusable:
		return giveUp(cur.ID, o.err)
	case o.class != rotasafe.ClassAuth:
		return result{currentID: cur.ID, err: o.err, class: o.class}
	}
	ctx = r.bind(ctx)
	if first.preferred {
		id := first.v.ID
		w.shun.Store(&id)
	}
	// A version other than the AWSCURRENT known was tried first: a sticky fallback (that
	// AWSCURRENT was rejected before) or a preferred version (a notice said the service
	// moved on). Either way the AWSCURRENT known may be older than it.
	return r.after(ctx, try, cur.ID, first.v, o.err, first.v.ID != cur.ID)
}

// after walks on from version first, which the service rejected with err while the source's
// AWSCURRENT was currentID: AWSPENDING, then AWSCURRENT (unless an answer said where it
// is), then AWSPREVIOUS, each read again after each rejection of what it named.
//
// staleCurrent says that currentID may be older than first (first was tried instead of
// it); AWSCURRENT is then read again for currentID's sake, since a source answers a read
// for first with the AWSCURRENT it holds when that is another version.
func (r *round) after(ctx context.Context, try Try, currentID string, first rotasafe.Version, err error, staleCurrent bool) result {
	w := r.w
	res := result{currentID: currentID, err: err, class: rotasafe.ClassAuth}
	tried := []string{first.ID}
	stages := []string{rotasafe.StagePending, rotasafe.StageCurrent, rotasafe.StagePrevious}
	if w.cfg.noFallback {
		stages = []string{rotasafe.StageCurrent}
	}
	currentKnown := false // an answer carried the AWSCURRENT label: no need to read it
	for _, stage := range stages {
		if stage == rotasafe.StageCurrent && currentKnown {
			continue
		}
		// An answer may predate a later rotation (a source shares one answer per rejected
		// version); when the version it names is rejected too, ask again for what is newer
		// than that one: a new reason, so a new read.
		reason := first.ID
		if stage == rotasafe.StageCurrent && staleCurrent {
			reason = res.currentID // read past the AWSCURRENT known, not answered with it
		}
		for range maxHops {
			if ctx.Err() != nil {
				return giveUp(res.currentID, errors.Join(res.err, ctx.Err()))
			}
			v, ok := r.reread(ctx, stage, reason)
			if !ok {
				break
			}
			if v.HasStage(rotasafe.StageCurrent) {
				res.currentID, currentKnown = v.ID, true
			}
			if slices.Contains(tried, v.ID) {
				break
			}
			tried = append(tried, v.ID)
			held := stageOf(v) // the label v held, which may be more telling than the one asked for
			o := r.attempt(ctx, try, v, held)
			if o.err == nil {
				if v.ID != res.currentID {
					w.st.fallbacks.Add(held)
				}
				w.stick(&choice{currentID: res.currentID, v: v, stage: held})
				return result{v: v, currentID: res.currentID}
			}
			if o.unusable {
				// A malformed version must not stop the walk to the next label, and there is
				// nothing newer than it to ask for.
				w.logger().Debug(w.cfg.client+": skipping unusable version", "secret", w.secretID, "version", v.ID, "err", o.err)
				break
			}
			if o.class != rotasafe.ClassAuth {
				return result{currentID: res.currentID, err: o.err, class: o.class}
			}
			res.err, reason = o.err, v.ID
		}
	}
	return res
}

// reread reads the version that holds stage after a rejection of version reason; ok false
// means there is none to try.
func (r *round) reread(ctx context.Context, stage, reason string) (v rotasafe.Version, ok bool) {
	w := r.w
	w.st.rereads.Add(stage)
	v, err := w.src.Reread(ctx, w.secretID, stage, reason)
	if err != nil {
		if !rotasafe.IsNotFound(err) {
			w.logger().Debug(w.cfg.client+": reading a label after a rejected login failed", "secret", w.secretID, "stage", stage, "err", err)
		}
		return rotasafe.Version{}, false
	}
	return v, true
}

// outcome is how one attempt ended.
type outcome struct {
	err      error          // the Try's error without its mark; nil when the login worked
	class    rotasafe.Class // how err was marked
	unusable bool           // err was marked Unusable: the version failed, not a login
}

// attempt makes one login with v, within the attempt timeout, and records it.
func (r *round) attempt(ctx context.Context, try Try, v rotasafe.Version, stage string) outcome {
	w := r.w
	actx := ctx
	if t := w.cfg.timeout; t > 0 {
		end, cause := time.Now().Add(t), error(nil)
		d, ok := ctx.Deadline()
		if !ok && !r.limit.IsZero() && r.limit.Before(end) {
			end, cause = r.limit, w.noDeadline // the login's bound (see bound) ends first
		}
		if !ok || d.After(end) {
			var cancel context.CancelFunc
			actx, cancel = context.WithDeadlineCause(ctx, end, cause)
			defer cancel()
		}
	}
	start := time.Now()
	err := try(actx, v)
	if err == nil {
		w.st.logins.Add(1)
		w.tm.Attempt(ctx, stage, telemetry.LoginOK, time.Since(start))
		return outcome{}
	}
	o := unmark(err)
	if o.unusable {
		return o
	}
	w.st.logins.Add(1)
	w.tm.Attempt(ctx, stage, telemetry.LoginOutcomeOf(o.err, o.class), time.Since(start))
	if o.class == rotasafe.ClassAuth {
		w.st.rejected.Add(stage)
	}
	r.log.add(rotasafe.Attempt{VersionID: v.ID, Stage: stage, Class: o.class, Err: o.err})
	return o
}

// maxAttempts bounds ConnectError.Attempts: a login that retries for long keeps the most
// recent attempts only.
const maxAttempts = 32

// attemptLog collects the attempts of one Login call.
type attemptLog struct {
	list  []rotasafe.Attempt
	total int
}

func (l *attemptLog) add(a rotasafe.Attempt) {
	l.total++
	if len(l.list) == maxAttempts {
		copy(l.list, l.list[1:])
		l.list = l.list[:maxAttempts-1]
	}
	l.list = append(l.list, a)
}
