package fleet

import (
	"context"
	"sync"

	"github.com/rotasafe/rotasafe/notice"
)

// fanout is an in-process notice.Transport: Publish hands the notice to every subscriber
// listening now, each on its own goroutine and queue. It stands in for Redis or NATS (tested
// with real servers in their own packages) as fakeDB stands in for the database: the
// simulation counts Secrets Manager calls and rejected logins, not a broker's latency. Like
// a real broker it drops a notice for a subscriber whose queue is full (at most once).
type fanout struct {
	mu   sync.Mutex // guards subs
	subs map[*subscriber]struct{}
}

type subscriber struct{ q chan notice.Notice }

// subscriberQueue is how many notices wait for one subscriber; a rotation sends three.
const subscriberQueue = 16

func newFanout() *fanout { return &fanout{subs: map[*subscriber]struct{}{}} }

// Publish queues n for every subscriber; it never blocks on a slow one.
func (f *fanout) Publish(ctx context.Context, n notice.Notice) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
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
