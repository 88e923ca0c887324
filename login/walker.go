package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/logopt"
	"github.com/rotasafe/rotasafe/internal/stagecount"
	"github.com/rotasafe/rotasafe/internal/telemetry"
	"github.com/rotasafe/rotasafe/retry"
)

// Walker runs the walk for one secret: it chooses the version each login uses and walks the
// staging labels when the service rejects it. It is safe for concurrent use and owns no
// goroutines; make one per secret and share it among the client's connections, since the
// version that worked and the lockout gate are shared through it.
type Walker struct {
	cfg      config
	src      rotasafe.Source
	prefer   rotasafe.Preferrer // src, when it can name a version to try first; else nil
	secretID string
	sticky   atomic.Pointer[choice] // the version to use while AWSCURRENT is choice.currentID
	gate     *gate                  // holds logins back while every version is rejected
	shun     atomic.Pointer[string] // a preferred version ID the service rejected: not preferred again
	st       stats
	// noDeadline is the cause of a Login's end when its context had no deadline and the
	// bound set in its place ran out (see round.bound); made once, not per Login.
	noDeadline error
	tm         *telemetry.LoginRecorder // records each attempt
}

// scope is the instrumentation scope of the login metrics: the package's import path.
const scope = "github.com/rotasafe/rotasafe/login"

// choice records that version v worked while the source's AWSCURRENT was currentID.
type choice struct {
	currentID string
	v         rotasafe.Version
	stage     string
	preferred bool // offered by the Source's Prefer, not yet proven
}

type stats struct {
	connects, failures, logins, retries, withheld atomic.Int64
	rejected, fallbacks, rereads                  stagecount.Counters
}

// New returns the Walker of secretID, whose versions it reads from src (a *cache.Cache, or
// any rotasafe.Source; when src is a rotasafe.Preferrer, its preferred version is tried
// first). It panics when src is nil, secretID is empty or an option is invalid: a
// programming error.
func New(src rotasafe.Source, secretID string, opts ...Option) *Walker {
	cfg := newConfig(opts)
	if src == nil {
		panic(cfg.client + ": nil rotasafe.Source (pass a *cache.Cache)")
	}
	if secretID == "" {
		panic(cfg.client + ": empty secret ID")
	}
	cfg.policy.Retryable, cfg.policy.OnRetry = nil, nil
	w := &Walker{cfg: cfg, src: src, secretID: secretID, gate: newGate(cfg.policy),
		tm: telemetry.NewLogin(cfg.meters, scope).For(cfg.client, secretID)}
	w.prefer, _ = src.(rotasafe.Preferrer)
	w.noDeadline = fmt.Errorf("the context has no deadline, and the retry policy's bound of %v ran out", w.maxElapsed())
	return w
}

// Stats returns what the Walker's logins cost since it was made.
func (w *Walker) Stats() rotasafe.LoginStats {
	return rotasafe.LoginStats{
		Connects:  w.st.connects.Load(),
		Failures:  w.st.failures.Load(),
		Logins:    w.st.logins.Load(),
		Rejected:  w.st.rejected.Load(),
		Fallbacks: w.st.fallbacks.Load(),
		Rereads:   w.st.rereads.Load(),
		Retries:   w.st.retries.Load(),
		Withheld:  w.st.withheld.Load(),
	}
}

func (w *Walker) logger() *slog.Logger { return logopt.Or(w.cfg.logger) }

// Choose returns the version a new login should use: the Source's preferred version, or the
// version that last worked while AWSCURRENT is still the one it was chosen under, or
// AWSCURRENT. A client that logs in on its own (go-redis does) calls it, and Recover when
// that login is rejected.
func (w *Walker) Choose(ctx context.Context) (rotasafe.Version, error) {
	cur, err := w.src.Get(ctx, w.secretID)
	if err != nil {
		return rotasafe.Version{}, err
	}
	return w.first(ctx, cur).v, nil
}

// first is Choose given AWSCURRENT.
func (w *Walker) first(ctx context.Context, cur rotasafe.Version) *choice {
	if w.prefer != nil {
		if v, ok := w.prefer.Prefer(ctx, w.secretID); ok && v.ID != "" && v.ID != cur.ID {
			if s := w.shun.Load(); s == nil || *s != v.ID {
				return &choice{currentID: cur.ID, v: v, stage: stageOf(v), preferred: true}
			}
		}
	}
	if ch := w.sticky.Load(); ch != nil && ch.currentID == cur.ID {
		return ch
	}
	return &choice{currentID: cur.ID, v: cur, stage: stageOf(cur)}
}

// Login logs in with try: the chosen version (see Choose), then, when the service rejects
// it, the versions the walk reads, then after waits at the lockout gate. Transient failures
// are retried with the policy's jittered waits. It returns the version that worked, or a
// *rotasafe.ConnectError. When ctx has no deadline, the policy's MaxElapsed (or
// DefaultMaxElapsed) plus the attempt timeout bounds the call.
func (w *Walker) Login(ctx context.Context, try Try) (rotasafe.Version, error) {
	r := &round{w: w, giveUp: w.giveUp()}
	ctx = r.bound(ctx, w.cfg.timeout > 0 && w.cfg.policy.MaxElapsed > 0)
	defer r.release()
	return r.finish(ctx, try, r.rounds(ctx, try, nil))
}

// Recover is Login for a client whose first login happened elsewhere (a go-redis
// connection pool logs in on its own) and was rejected: rejected is the version it used and
// err what the service said. The walk goes on from there as Login would after that
// rejection, which counts as one login.
func (w *Walker) Recover(ctx context.Context, rejected rotasafe.Version, err error, try Try) (rotasafe.Version, error) {
	r := &round{w: w, giveUp: w.giveUp()}
	ctx = r.bound(ctx, false)
	defer r.release()
	stage := stageOf(rejected)
	w.st.logins.Add(1)
	w.st.rejected.Add(stage)
	w.tm.Rejected(ctx, stage)
	r.log.add(rotasafe.Attempt{VersionID: rejected.ID, Stage: stage, Class: rotasafe.ClassAuth, Err: err})
	// The first round starts after the client's rejected login; the others are Login's.
	first := func(ctx context.Context, cur rotasafe.Version) result {
		return r.after(ctx, try, cur.ID, rejected, err, rejected.ID != cur.ID)
	}
	return r.finish(ctx, try, r.rounds(ctx, try, first))
}

// maxElapsed is the bound of a Login whose context has no deadline, beyond the attempt
// timeout: the policy's MaxElapsed, or DefaultMaxElapsed.
func (w *Walker) maxElapsed() time.Duration {
	if d := w.cfg.policy.MaxElapsed; d > 0 {
		return d
	}
	return DefaultMaxElapsed
}

// giveUp returns when the policy's MaxElapsed ends a login that begins now; zero: never.
func (w *Walker) giveUp() time.Time {
	if w.cfg.policy.MaxElapsed <= 0 {
		return time.Time{}
	}
	return time.Now().Add(w.cfg.policy.MaxElapsed)
}

// finish ends a login whose first rounds ended with first: a transient failure goes on in the
// retry loop, which begins with the wait that follows it. The first rounds run outside the
// loop, which costs allocations that a login that works at once does not need.
func (r *round) finish(ctx context.Context, try Try, first result) (rotasafe.Version, error) {
	w := r.w
	v, err := first.v, first.err
	if err != nil && first.class == rotasafe.ClassTransient {
		ctx = r.bind(ctx)
		p := w.cfg.policy
		p.OnRetry = func(attempt int, cause error, wait time.Duration) {
			w.st.retries.Add(1)
			w.logger().Debug(w.cfg.client+": retrying login", "secret", w.secretID, "attempt", attempt, "wait", wait, "err", cause)
		}
		made := false // the loop's first call is the failure of the rounds above
		v, err = retry.DoValue(ctx, p, func(ctx context.Context) (rotasafe.Version, error) {
			if !made {
				made = true
				return rotasafe.Version{}, first.err
			}
			res := r.rounds(ctx, try, nil)
			if res.err != nil && res.class != rotasafe.ClassTransient {
				return rotasafe.Version{}, retry.Permanent(res.err)
			}
			return res.v, res.err
		})
	}
	if err != nil {
		if ctx.Err() != nil {
			err = cutShort(err, r.log.list)
		}
		w.st.failures.Add(1)
		return rotasafe.Version{}, &rotasafe.ConnectError{Client: w.cfg.client, SecretID: w.secretID, Attempts: r.log.list, Total: r.log.total, Err: err}
	}
	w.st.connects.Add(1)
	return v, nil
}

// stick makes ch the version to use while AWSCURRENT is ch.currentID, and logs a change.
func (w *Walker) stick(ch *choice) {
	old := w.sticky.Load()
	if old == ch || (old != nil && old.currentID == ch.currentID && old.v.ID == ch.v.ID) {
		return
	}
	w.sticky.Store(ch)
	if old != nil && old.v.ID == ch.v.ID {
		return
	}
	if ch.v.ID == ch.currentID {
		w.logger().Info(w.cfg.client+": using version", "secret", w.secretID, "version", ch.v.ID, "stage", ch.stage)
	} else {
		w.logger().Info(w.cfg.client+": using a version other than the AWSCURRENT known, until that changes", "secret", w.secretID,
			"version", ch.v.ID, "stage", ch.stage, "current", ch.currentID)
	}
}

// stageOf names the most telling label a version held when read.
func stageOf(v rotasafe.Version) string {
	for _, s := range []string{rotasafe.StageCurrent, rotasafe.StagePending, rotasafe.StagePrevious} {
		if v.HasStage(s) {
			return s
		}
	}
	if len(v.Stages) > 0 {
		return v.Stages[0]
	}
	return ""
}

// cutShort returns err, the error of a login whose context ended, with what the service said
// last (the latest attempt's error that is not that ending) unless err holds it already: the
// end may cut into any attempt, and errors.As should find the driver's error all the same.
func cutShort(err error, attempts []rotasafe.Attempt) error {
	for i := len(attempts) - 1; i >= 0; i-- {
		said := attempts[i].Err
		if said == nil || errors.Is(said, context.Canceled) || errors.Is(said, context.DeadlineExceeded) {
			continue
		}
		if errors.Is(err, said) {
			return err
		}
		return fmt.Errorf("%w (before that: %w)", err, said)
	}
	return err
}
