// Package walk is the credential walk every rotasafe client shares: which version of a
// secret to log in with, what to read and try after the database rejects it, which version
// to keep using, when to hold logins back, and how to retry. sqlconn, redisconn and
// pgxpoolconn differ only in how they try one login, which they hand to a Walker as a
// function.
//
//	w := walk.New(walk.Config{Client: "sqlconn", SecretID: id, Source: c, Policy: p})
//	v, err := w.Login(ctx, func(ctx context.Context, v rotasafe.Version) (rotasafe.Class, error) {
//		conn, err = connectWith(ctx, v)
//		return classify(err), err
//	})
//
// After a rejected login the walk reads AWSPENDING once (Source.Reread): during a
// single-user rotation it holds the password the database just took, and after
// finishSecret it sits on the new AWSCURRENT too, so that one read both finds the new
// password and tells whether AWSCURRENT moved. AWSCURRENT is read again only when that
// answer does not say where it is, and AWSPREVIOUS only when nothing newer logs in.
package walk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/stagecount"
	"github.com/rotasafe/rotasafe/retry"
)

// Try is one login with the credentials of v. It returns nil when the login worked, and
// otherwise the failure and its class. Wrap an error with Unusable when v itself cannot be
// used (its JSON is malformed, say): the walk then skips v without counting a login.
type Try func(ctx context.Context, v rotasafe.Version) (rotasafe.Class, error)

// Unusable marks err as a failure of the version itself, not of a login.
func Unusable(err error) error { return &unusableError{err} }

type unusableError struct{ err error }

func (e *unusableError) Error() string { return e.err.Error() }
func (e *unusableError) Unwrap() error { return e.err }

// maxHops bounds the reads of one label in one round: each follows a rejection of the
// version the previous read named.
const maxHops = 3

// DefaultMaxElapsed bounds a login whose policy has no MaxElapsed and whose context has no
// deadline, as pgx's stdlib Driver.Open bounds its connects.
const DefaultMaxElapsed = 60 * time.Second

// Config is what a Walker needs. Source and SecretID are required.
type Config struct {
	Client   string          // the package name that prefixes errors and log messages
	SecretID string          // the secret whose versions are tried
	Source   rotasafe.Source // where versions are read
	// Policy paces transient retries (its own loop) and the lockout gate (its Initial,
	// Multiplier and Max with equal jitter). MaxElapsed and MaxAttempts bound both; Retryable
	// and OnRetry are not used.
	Policy retry.Policy
	// Timeout bounds each login attempt; zero means none beyond the context's.
	Timeout time.Duration
	// NoFallback limits the walk to AWSCURRENT: after a rejection only AWSCURRENT is read
	// again.
	NoFallback bool
	// Logger receives fallbacks at Info and rejected rounds and retries at Debug; nil means
	// slog.Default() at the time of logging.
	Logger *slog.Logger
	// Prefer, when set, names a version to try before AWSCURRENT, such as one a rotation
	// notice announced; ok false means none. It may wait (within ctx) for a version being
	// read. The walk never keeps a preferred version that the database rejects. When nil,
	// New takes the Source's Prefer method if it has one (a *cache.Cache does).
	Prefer func(ctx context.Context, secretID string) (v rotasafe.Version, ok bool)
}

// Walker runs the walk for one secret. It is safe for concurrent use and owns no goroutines.
type Walker struct {
	cfg    Config
	sticky atomic.Pointer[choice] // the version to use while AWSCURRENT is choice.currentID
	gate   *gate                  // holds logins back while every version is rejected
	shun   atomic.Pointer[string] // a preferred version ID the database rejected: not preferred again
	st     stats
}

// choice records that version v worked while the source's AWSCURRENT was currentID.
type choice struct {
	currentID string
	v         rotasafe.Version
	stage     string
	preferred bool // offered by Config.Prefer, not yet proven
}

type stats struct {
	connects, failures, logins, retries, withheld atomic.Int64
	rejected, fallbacks, rereads                  stagecount.Counters
}

// preferrer is a Source that can name a version to try first (see rotasafe.Source).
type preferrer interface {
	Prefer(ctx context.Context, secretID string) (rotasafe.Version, bool)
}

// New returns a Walker. It panics when cfg has no Source or SecretID: a programming error.
func New(cfg Config) *Walker {
	if cfg.Source == nil {
		panic(cfg.Client + ": nil rotasafe.Source")
	}
	if cfg.SecretID == "" {
		panic(cfg.Client + ": empty secret ID")
	}
	cfg.Policy.Retryable, cfg.Policy.OnRetry = nil, nil
	if p, ok := cfg.Source.(preferrer); ok && cfg.Prefer == nil {
		cfg.Prefer = p.Prefer
	}
	return &Walker{cfg: cfg, gate: newGate(cfg.Policy)}
}

// Stats returns the counters.
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

func (w *Walker) logger() *slog.Logger {
	if w.cfg.Logger != nil {
		return w.cfg.Logger
	}
	return slog.Default()
}

// Choose returns the version a new login should use: a preferred version, or the version
// that last worked while AWSCURRENT is still the one it was chosen under, or AWSCURRENT.
func (w *Walker) Choose(ctx context.Context) (rotasafe.Version, error) {
	cur, err := w.cfg.Source.Get(ctx, w.cfg.SecretID)
	if err != nil {
		return rotasafe.Version{}, err
	}
	return w.first(ctx, cur).v, nil
}

// first is Choose given AWSCURRENT.
func (w *Walker) first(ctx context.Context, cur rotasafe.Version) *choice {
	if w.cfg.Prefer != nil {
		if v, ok := w.cfg.Prefer(ctx, w.cfg.SecretID); ok && v.ID != "" && v.ID != cur.ID {
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

// Login logs in with try: the chosen version, then, when the database rejects it, the
// versions the walk reads, then after waits at the lockout gate. Transient failures are
// retried with the policy's jittered waits. It returns the version that worked, or a
// *rotasafe.ConnectError. When ctx has no deadline, the policy's MaxElapsed (or
// DefaultMaxElapsed) plus Timeout bounds the call.
func (w *Walker) Login(ctx context.Context, try Try) (rotasafe.Version, error) {
	return w.run(ctx, nil, nil, try)
}

// Recover is Login for a client whose first login happened elsewhere (a go-redis
// connection pool logs in on its own) and was rejected: rejected is the version it used and
// err what the database said. The walk goes on from there as Login would after that
// rejection.
func (w *Walker) Recover(ctx context.Context, rejected rotasafe.Version, err error, try Try) (rotasafe.Version, error) {
	return w.run(ctx, &rejected, err, try)
}

func (w *Walker) run(ctx context.Context, rejected *rotasafe.Version, rejErr error, try Try) (rotasafe.Version, error) {
	if _, ok := ctx.Deadline(); !ok {
		bound := w.cfg.Policy.MaxElapsed
		if bound <= 0 {
			bound = DefaultMaxElapsed
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, bound+w.cfg.Timeout,
			fmt.Errorf("the context has no deadline, and the retry policy's bound of %v ran out", bound))
		defer cancel()
	}
	r := &round{w: w, try: try}
	if w.cfg.Policy.MaxElapsed > 0 {
		r.giveUp = time.Now().Add(w.cfg.Policy.MaxElapsed)
	}
	if rejected != nil {
		w.st.logins.Add(1)
		w.st.rejected.Add(stageOf(*rejected))
		r.log.add(rotasafe.Attempt{VersionID: rejected.ID, Stage: stageOf(*rejected), Class: rotasafe.ClassAuth, Err: rejErr})
		r.pending = rejected
	}
	// The first round runs outside the retry loop, which costs allocations that a login
	// that works at once does not need.
	v, err := r.rounds(ctx)
	if inner, ok := retry.IsPermanent(err); ok {
		err = inner
	} else if err != nil {
		// A transient failure: go on in the retry loop, which begins with a wait.
		p := w.cfg.Policy
		p.OnRetry = func(attempt int, err error, wait time.Duration) {
			w.st.retries.Add(1)
			w.logger().Debug(w.cfg.Client+": retrying login", "secret", w.cfg.SecretID, "attempt", attempt, "wait", wait, "err", err)
		}
		v, err = retry.DoValueAfter(ctx, p, err, r.rounds)
	}
	if err != nil {
		w.st.failures.Add(1)
		return rotasafe.Version{}, &rotasafe.ConnectError{Client: w.cfg.Client, SecretID: w.cfg.SecretID, Attempts: r.log.list, Total: r.log.total, Err: err}
	}
	w.st.connects.Add(1)
	return v, nil
}

// round is the state of one Login call across its rounds.
type round struct {
	w       *Walker
	try     Try
	giveUp  time.Time         // when the policy's MaxElapsed ends the login; zero: never
	log     attemptLog        // every attempt, for the ConnectError
	pending *rotasafe.Version // a version rejected before the walk began (Recover)
}

// rounds runs rounds of logins until one works, fails for another reason, or the gate
// turns the login away. It returns a retry.Permanent error for failures that waiting for
// the retry policy's backoff will not fix; transient failures return to the retry loop.
func (r *round) rounds(ctx context.Context) (rotasafe.Version, error) {
	w := r.w
	for n := 1; ; n++ {
		cur, err := w.cfg.Source.Get(ctx, w.cfg.SecretID)
		if err != nil {
			return rotasafe.Version{}, retry.Permanent(err)
		}
		probe, err := w.gate.enter(ctx, cur.ID, r.giveUp)
		if err != nil {
			w.st.withheld.Add(1)
			return rotasafe.Version{}, retry.Permanent(err)
		}
		v, currentID, rejected, err := r.gated(ctx, cur, probe)
		if !rejected {
			return v, err
		}
		w.logger().Debug(w.cfg.Client+": every version was rejected", "secret", w.cfg.SecretID, "current", currentID, "err", err)
		if max := w.cfg.Policy.MaxAttempts; max > 0 && n >= max {
			return rotasafe.Version{}, retry.Permanent(err)
		}
		w.st.retries.Add(1)
	}
}

// gated runs one round for a login the gate let through and reports the outcome to the
// gate, even when try panics, so that a probe never leaves the others waiting.
func (r *round) gated(ctx context.Context, cur rotasafe.Version, probe bool) (v rotasafe.Version, currentID string, rejected bool, err error) {
	reported := false
	defer func() {
		if !reported {
			r.w.gate.done(probe)
		}
	}()
	v, currentID, rejected, err = r.one(ctx, cur)
	switch {
	case err == nil:
		r.w.gate.succeeded(probe)
	case rejected:
		r.w.gate.rejected(currentID, err, probe)
	default:
		r.w.gate.done(probe)
	}
	reported = true
	return v, currentID, rejected, err
}

// one runs a round: the chosen version, then the walk after its rejection. rejected reports
// that every version tried was rejected as wrong credentials while AWSCURRENT was currentID.
func (r *round) one(ctx context.Context, cur rotasafe.Version) (v rotasafe.Version, currentID string, rejected bool, err error) {
	w := r.w
	var first *choice
	var firstErr error
	if r.pending != nil { // Recover: the first login was made, and rejected, by the client
		first = &choice{currentID: cur.ID, v: *r.pending, stage: stageOf(*r.pending)}
		firstErr, r.pending = r.log.last(), nil
	} else {
		first = w.first(ctx, cur)
		class, err := r.attempt(ctx, first.v, first.stage)
		switch {
		case err == nil:
			w.stick(first)
			return first.v, cur.ID, false, nil
		case isUnusable(err) || class != rotasafe.ClassAuth:
			return rotasafe.Version{}, cur.ID, false, classErr(class, err)
		}
		firstErr = err
		if first.preferred {
			id := first.v.ID
			w.shun.Store(&id)
		}
	}
	// A version other than the AWSCURRENT known was tried first: a sticky fallback (that
	// AWSCURRENT was rejected before) or a preferred version (a notice said the database
	// moved on). Either way the AWSCURRENT known may be older than it.
	stale := first.v.ID != cur.ID
	return r.after(ctx, cur.ID, first.v, firstErr, stale)
}

// after walks on from version rejected, which the database refused with err while the
// source's AWSCURRENT was currentID.
//
// staleCurrent says that currentID may be older than rejected (rejected was tried instead
// of it); AWSCURRENT is then read again for currentID's sake, since a source answers a read
// for rejected with the AWSCURRENT it holds when that is another version.
func (r *round) after(ctx context.Context, currentID string, rejected rotasafe.Version, err error, staleCurrent bool) (rotasafe.Version, string, bool, error) {
	w := r.w
	tried := []string{rejected.ID}
	lastErr := err
	// tryNext tries v; done reports that the round ended, rejected that v was rejected.
	tryNext := func(v rotasafe.Version) (done, rejected bool, err error) {
		tried = append(tried, v.ID)
		stage := stageOf(v)
		class, err := r.attempt(ctx, v, stage)
		switch {
		case err == nil:
			if v.ID != currentID {
				w.st.fallbacks.Add(stage)
			}
			w.stick(&choice{currentID: currentID, v: v, stage: stage})
			return true, false, nil
		case isUnusable(err):
			// A malformed version must not stop the walk to the next label.
			w.logger().Debug(w.cfg.Client+": skipping unusable version", "secret", w.cfg.SecretID, "version", v.ID, "err", err)
			return false, false, nil
		case class != rotasafe.ClassAuth:
			return true, false, classErr(class, err)
		}
		lastErr = err
		return false, true, nil
	}
	reread := func(stage, reason string) (rotasafe.Version, bool) {
		w.st.rereads.Add(stage)
		v, err := w.cfg.Source.Reread(ctx, w.cfg.SecretID, stage, reason)
		if err != nil {
			if !rotasafe.IsNotFound(err) {
				w.logger().Debug(w.cfg.Client+": reading a label after a rejected login failed", "secret", w.cfg.SecretID, "stage", stage, "err", err)
			}
			return rotasafe.Version{}, false
		}
		if v.HasStage(rotasafe.StageCurrent) {
			currentID = v.ID
		}
		return v, true
	}
	stages := []string{rotasafe.StagePending, rotasafe.StageCurrent, rotasafe.StagePrevious}
	if w.cfg.NoFallback {
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
		reason := rejected.ID
		if stage == rotasafe.StageCurrent && staleCurrent {
			reason = currentID // read past the AWSCURRENT known, not answered with it
		}
		for range maxHops {
			if ctx.Err() != nil {
				return rotasafe.Version{}, currentID, false, retry.Permanent(errors.Join(lastErr, ctx.Err()))
			}
			v, ok := reread(stage, reason)
			if !ok {
				break
			}
			currentKnown = currentKnown || v.HasStage(rotasafe.StageCurrent)
			if slices.Contains(tried, v.ID) {
				break
			}
			done, rejected, err := tryNext(v)
			if done {
				if err == nil {
					return v, currentID, false, nil
				}
				return rotasafe.Version{}, currentID, false, err
			}
			if !rejected { // unusable: nothing newer to ask for
				break
			}
			reason = v.ID
		}
	}
	return rotasafe.Version{}, currentID, true, lastErr
}

// attempt makes one login with v, within the configured timeout, and logs it.
func (r *round) attempt(ctx context.Context, v rotasafe.Version, stage string) (rotasafe.Class, error) {
	w := r.w
	actx := ctx
	if t := w.cfg.Timeout; t > 0 {
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > t {
			var cancel context.CancelFunc
			actx, cancel = context.WithTimeout(ctx, t)
			defer cancel()
		}
	}
	class, err := r.try(actx, v)
	if err == nil {
		w.st.logins.Add(1)
		return class, nil
	}
	if isUnusable(err) {
		return rotasafe.ClassOther, err
	}
	w.st.logins.Add(1)
	if class == rotasafe.ClassAuth {
		w.st.rejected.Add(stage)
	}
	r.log.add(rotasafe.Attempt{VersionID: v.ID, Stage: stage, Class: class, Err: err})
	return class, err
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
		w.logger().Info(w.cfg.Client+": using version", "secret", w.cfg.SecretID, "version", ch.v.ID, "stage", ch.stage)
	} else {
		w.logger().Info(w.cfg.Client+": using a version other than the AWSCURRENT known, until that changes", "secret", w.cfg.SecretID,
			"version", ch.v.ID, "stage", ch.stage, "current", ch.currentID)
	}
}

// classErr marks err for the retry loop: transient failures are retried, others are not.
func classErr(class rotasafe.Class, err error) error {
	if class == rotasafe.ClassTransient && !isUnusable(err) {
		return err
	}
	return retry.Permanent(err)
}

func isUnusable(err error) bool {
	_, ok := errors.AsType[*unusableError](err)
	return ok
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

// last returns the error of the latest attempt.
func (l *attemptLog) last() error {
	if len(l.list) == 0 {
		return nil
	}
	return l.list[len(l.list)-1].Err
}
