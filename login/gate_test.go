package login

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotasafe/rotasafe/retry"
)

var errRejected = errors.New("28P01")

func TestGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(retry.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2})
		ctx := t.Context()

		// A burst of rounds that entered the open gate and were rejected closes it once: the
		// wait is that of one failure.
		var burst []ticket
		for range 5 {
			tk, err := g.enter(ctx, "v1", time.Time{})
			if tk.probe || err != nil {
				t.Fatalf("open gate: enter = %+v, %v; want no probe, nil", tk, err)
			}
			burst = append(burst, tk)
		}
		start := time.Now()
		for i := range burst {
			burst[i].rejected("v1", errRejected)
		}
		if g.fails != 1 {
			t.Errorf("after a burst of 5 rejected rounds: fails = %d, want 1", g.fails)
		}
		if wait := g.next.Sub(start); wait < 50*time.Millisecond || wait > 100*time.Millisecond {
			t.Errorf("first wait %v, want within [50ms, 100ms]", wait)
		}

		// Another AWSCURRENT passes at once: it is new information.
		if tk, err := g.enter(ctx, "v2", time.Time{}); tk.probe || err != nil {
			t.Errorf("new AWSCURRENT: enter = %+v, %v; want no probe, nil", tk, err)
		}

		// A deadline before the gate opens fails at once, with the rejection and the reason.
		short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		_, err := g.enter(short, "v1", time.Time{})
		cancel()
		if !errors.Is(err, errRejected) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("deadline before the gate opens: got %v, want the rejection and DeadlineExceeded", err)
		}
		if _, err := g.enter(ctx, "v1", time.Now().Add(time.Millisecond)); !errors.Is(err, errRejected) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("giveUp before the gate opens: got %v, want the rejection alone", err)
		}
		if time.Since(start) != 0 {
			t.Errorf("refusals took %v of fake time, want none", time.Since(start))
		}

		// Once the wait has passed, one of many waiting connects probes; the others wait for
		// its outcome. A failed probe closes the gate for longer.
		var probes atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				tk, err := g.enter(ctx, "v1", time.Time{})
				if err != nil {
					t.Errorf("enter: %v", err)
				}
				if tk.probe {
					if probes.Add(1) == 1 {
						time.Sleep(5 * time.Millisecond) // the probe's round
						tk.rejected("v1", errRejected)
						return
					}
					tk.succeeded()
				}
			})
		}
		wg.Wait()
		if got := probes.Load(); got != 2 {
			t.Errorf("probes = %d, want 2 (one rejected, one that worked)", got)
		}
		if g.fails != 0 || g.currentID != "" {
			t.Errorf("after a successful probe: fails %d, currentID %q; want the gate open", g.fails, g.currentID)
		}
		if elapsed := time.Since(start); elapsed < 150*time.Millisecond {
			t.Errorf("two probes after %v, want at least 50ms + 100ms of waits", elapsed)
		}
	})
}

// TestTicketReportsOnce: a probe's ticket reports once; the deferred abandon after a report
// does not end the probe that came next.
func TestTicketReportsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(retry.Policy{Initial: time.Millisecond, Max: time.Millisecond})
		tk, _ := g.enter(t.Context(), "v1", time.Time{})
		tk.rejected("v1", errRejected)
		time.Sleep(2 * time.Millisecond) // past the gate's wait
		first, err := g.enter(t.Context(), "v1", time.Time{})
		if err != nil || !first.probe {
			t.Fatalf("enter after the wait: %+v, %v; want the probe", first, err)
		}
		first.rejected("v1", errRejected)
		first.abandoned() // as gated's defer does after a report
		time.Sleep(2 * time.Millisecond)
		second, err := g.enter(t.Context(), "v1", time.Time{})
		if err != nil || !second.probe {
			t.Fatalf("enter after the next wait: %+v, %v; want the probe", second, err)
		}
		first.abandoned()
		g.mu.Lock()
		running := g.probe != nil
		g.mu.Unlock()
		if !running {
			t.Error("a spent ticket ended the next probe")
		}
		second.succeeded()
	})
}
