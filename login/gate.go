package login

import (
	"context"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/rotasafe/rotasafe/retry"
)

// gate holds back logins while the database rejects every staging label of the secret, so
// that a pool opening connections as fast as queries arrive cannot lock the account
// (HikariCP #1741 retried a stale password every 250ms until it did). After a round in
// which every label was rejected the gate closes for a jittered wait that grows with each
// such round; when it has passed, one connect (the probe) runs a round while the others
// wait for its outcome. The gate opens when a login succeeds or the cache's AWSCURRENT
// changes.
type gate struct {
	mu        sync.Mutex      // guards the fields below
	waits     backoff.BackOff // the policy's waits with equal jitter: never less than half the ceiling
	currentID string          // AWSCURRENT when the gate closed; "" while open
	fails     int             // consecutive rounds in which every label was rejected
	next      time.Time       // when the next probe may run
	probe     chan struct{}   // non-nil while a probe runs; closed when it reports
	lastErr   error           // the last rejection, returned to connects the gate turns away
}

// newGate returns an open gate whose waits grow as p's do (Initial, Multiplier, Max), with
// equal jitter so that a closed gate always holds logins back; p's bounds do not apply.
func newGate(p retry.Policy) *gate {
	p.Jitter, p.MaxAttempts, p.MaxElapsed = retry.Equal, 0, 0
	return &gate{waits: p.NewBackOff()}
}

// gateError is what a connect gets when the gate turns it away: the last rejection, and
// why the connect could not wait for the next login.
type gateError struct {
	err    error // the last rejection
	ctxErr error // ctx.Err() or context.DeadlineExceeded; nil when the retry policy's MaxElapsed ran out
}

func (e *gateError) Error() string {
	why := "the retry policy's MaxElapsed ran out"
	if e.ctxErr != nil {
		why = e.ctxErr.Error()
	}
	return "every version was rejected and " + why + " before the next login: " + e.err.Error()
}

func (e *gateError) Unwrap() []error {
	if e.ctxErr == nil {
		return []error{e.err}
	}
	return []error{e.err, e.ctxErr}
}

// ticket lets one round of logins through the gate. The round reports its outcome on it
// exactly once (rejected, succeeded or abandoned); when the round is the gate's probe, that
// report lets the connects waiting for it go on.
type ticket struct {
	g     *gate
	probe bool // this round is the probe: the others wait for its outcome
}

// enter waits until a connect that read AWSCURRENT currentID may log in, and returns its
// ticket. It returns an error when ctx ends first, or at once when ctx's deadline or giveUp
// (if not zero) comes before the gate would open.
func (g *gate) enter(ctx context.Context, currentID string, giveUp time.Time) (ticket, error) {
	for {
		g.mu.Lock()
		if g.currentID == "" || g.currentID != currentID {
			g.mu.Unlock()
			return ticket{g: g}, nil
		}
		if ch := g.probe; ch != nil {
			g.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ticket{}, g.refuse(ctx.Err())
			}
		}
		wait := time.Until(g.next)
		if wait <= 0 {
			g.probe = make(chan struct{})
			g.mu.Unlock()
			return ticket{g: g, probe: true}, nil
		}
		next, lastErr := g.next, g.lastErr
		g.mu.Unlock()
		// A connect that could not live to see the gate open fails now, with no login.
		if d, ok := ctx.Deadline(); ok && d.Before(next) {
			return ticket{}, &gateError{err: lastErr, ctxErr: context.DeadlineExceeded}
		}
		if !giveUp.IsZero() && giveUp.Before(next) {
			return ticket{}, &gateError{err: lastErr}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ticket{}, g.refuse(ctx.Err())
		}
	}
}

// refuse returns the error for a connect whose context ended while it waited.
func (g *gate) refuse(ctxErr error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lastErr == nil {
		return ctxErr
	}
	return &gateError{err: g.lastErr, ctxErr: ctxErr}
}

// rejected reports a round in which every label of AWSCURRENT currentID was rejected with
// err. The first such round closes the gate; each failed probe keeps it closed for longer.
// Rounds that began before the gate closed (the rest of a burst) only update the error, so
// a burst of N connects counts as one failure, not N.
func (t *ticket) rejected(currentID string, err error) {
	g, probe := t.take()
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.endProbe(probe)
	g.lastErr = err
	switch {
	case g.currentID != currentID:
		g.currentID, g.fails = currentID, 1
		g.waits.Reset()
	case probe:
		g.fails++
	default:
		return
	}
	g.next = time.Now().Add(g.waits.NextBackOff())
}

// succeeded reports a login that worked: the gate opens.
func (t *ticket) succeeded() {
	g, probe := t.take()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.currentID, g.fails, g.lastErr = "", 0, nil
	g.endProbe(probe)
}

// abandoned reports a round that failed for another reason (a transient failure, a panic in
// a Try): the gate stays as it was and the next connect may probe. It does nothing after
// another report, so that it can be deferred.
func (t *ticket) abandoned() {
	if t.g == nil {
		return
	}
	g, probe := t.take()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.endProbe(probe)
}

// take spends the ticket: it returns its gate and whether it was the probe, once.
func (t *ticket) take() (*gate, bool) {
	g, probe := t.g, t.probe
	t.g, t.probe = nil, false
	return g, probe
}

func (g *gate) endProbe(probe bool) {
	if probe {
		close(g.probe)
		g.probe = nil
	}
}
