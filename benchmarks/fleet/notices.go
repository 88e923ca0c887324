package fleet

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/notice"
)

// fanout is an in-process notice.Transport: Publish hands the notice to every subscriber
// listening now, each on its own goroutine and queue. It stands in for Redis or NATS (tested
// with real servers in their own packages) as fakeDB stands in for the database: the
// simulation counts Secrets Manager calls and rejected logins, not a broker's latency. Like
// a real broker it drops a notice for a subscriber whose queue is full (at most once), and it
// loses each notice to each subscriber with probability loss.
type fanout struct {
	loss float64
	mu   sync.Mutex // guards subs
	subs map[*subscriber]struct{}
}

type subscriber struct{ q chan notice.Notice }

// subscriberQueue is how many notices wait for one subscriber; a rotation sends three.
const subscriberQueue = 16

func newFanout(loss float64) *fanout { return &fanout{loss: loss, subs: map[*subscriber]struct{}{}} }

// Publish queues n for every subscriber; it never blocks on a slow one.
func (f *fanout) Publish(ctx context.Context, n notice.Notice) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		if f.loss > 0 && rand.Float64() < f.loss {
			continue // lost on the way
		}
		select {
		case s.q <- n:
		default: // dropped, as a broker drops for a subscriber that does not keep up
		}
	}
	return nil
}

// Subscribe calls handle with each notice published while it runs, until ctx ends.
func (f *fanout) Subscribe(ctx context.Context, handle func(notice.Notice)) error {
	s := &subscriber{q: make(chan notice.Notice, subscriberQueue)}
	f.mu.Lock()
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.subs, s)
		f.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case n := <-s.q:
			handle(n)
		}
	}
}

// subscribers returns how many subscribers listen now.
func (f *fanout) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Waits summarises how long logins waited, in modeled time.
type Waits struct {
	N             int // logins counted
	P50, P99, Max time.Duration
}

// waitRecorder records how long each login waited in Prefer, and when it began, so that the
// logins that began while the password was changing can be told apart.
type waitRecorder struct {
	mu     sync.Mutex // guards the fields below
	marks  []time.Time
	starts []time.Time
	waits  []time.Duration
}

// mark records a bound of the password change: its start, then its end.
func (w *waitRecorder) mark() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.marks = append(w.marks, time.Now())
}

func (w *waitRecorder) add(start time.Time, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.starts = append(w.starts, start)
	w.waits = append(w.waits, d)
}

// result returns the waits of the logins that began between the two marks, in modeled time
// (real time divided by d).
func (w *waitRecorder) result(d float64) Waits {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.marks) < 2 {
		return Waits{}
	}
	var in []time.Duration
	for i, s := range w.starts {
		if !s.Before(w.marks[0]) && !s.After(w.marks[1]) {
			in = append(in, time.Duration(float64(w.waits[i])/d))
		}
	}
	if len(in) == 0 {
		return Waits{}
	}
	slices.Sort(in)
	return Waits{N: len(in), P50: in[len(in)/2], P99: in[min(len(in)-1, len(in)*99/100)], Max: in[len(in)-1]}
}

// timedSource is a cache.Cache whose Prefer (which the walk calls before every login, and
// which holds logins while the password changes) is timed.
type timedSource struct {
	*cache.Cache
	waits *waitRecorder
}

func (s timedSource) Prefer(ctx context.Context, secretID string) (rotasafe.Version, bool) {
	start := time.Now()
	v, ok := s.Cache.Prefer(ctx, secretID)
	s.waits.add(start, time.Since(start))
	return v, ok
}
