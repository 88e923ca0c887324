package cache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/notice"
)

// publish sends n about the env's secret and waits until the cache has taken it.
func (e *noticeEnv) publish(t *testing.T, n notice.Notice) {
	t.Helper()
	n.SecretARN = e.arn
	before := e.c.Stats().Notices
	if err := e.p.Publish(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the notice to arrive", func() bool { return e.c.Stats().Notices > before })
}

// preferAsync calls Prefer on a goroutine of its own and hands back what it offers.
func (e *noticeEnv) preferAsync(ctx context.Context) <-chan string {
	out := make(chan string, 1)
	go func() {
		v, _ := e.c.Prefer(ctx, e.id)
		out <- v.ID
	}()
	return out
}

// TestNoticeHold: between "password changing" and "password changed" Prefer holds new
// logins, then offers the new version; a version is held for once; a version the cache has
// not seen as AWSPENDING is read first, and one that is not AWSPENDING holds nothing.
func TestNoticeHold(t *testing.T) {
	e, v2 := changing(t, time.Hour, 1)
	held := e.preferAsync(t.Context())
	select {
	case id := <-held:
		t.Fatalf("during the hold: Prefer returned %q, want it to wait for the change", id)
	default:
	}
	// A login whose context ends is not kept.
	ctx, cancel := context.WithCancel(t.Context())
	gone := e.preferAsync(ctx)
	cancel()
	if id := <-gone; id != "" {
		t.Fatalf("Prefer with an ended context during the hold: got %q, want nothing", id)
	}
	e.send(t, notice.PasswordChanged, v2)
	if id := <-held; id != v2 {
		t.Fatalf("after the change: Prefer offers %q, want %s", id, v2)
	}
	e.send(t, notice.PasswordChanging, v2) // repeated: held once only
	if got := e.c.Stats().Holds; got != 1 {
		t.Fatalf("a repeated notice: got %d holds, want 1", got)
	}
	e.waitReads(t, 1)

	// Only "password changing": the version is read, then held for.
	v3 := e.put(t, e.id, "pw-3", rotasafe.StagePending)
	e.send(t, notice.PasswordChanging, v3)
	eventually(t, "the second hold", func() bool { return e.c.Stats().Holds == 2 })
	e.finish(t, v3)
	e.send(t, notice.Finished, v3) // ends the hold too
	e.waitReads(t, 2)
	if got := e.prefer(t); got != "" {
		t.Fatalf("after finished: Prefer offers %q, want nothing (it is AWSCURRENT)", got)
	}
	e.waitCurrent(t, v3)

	// Versions that do not exist, or are not AWSPENDING, hold nothing.
	e.clock.Advance(time.Second)
	e.send(t, notice.PasswordChanging, "forged-0000-0000-4000-8000-000000000000")
	e.send(t, notice.PasswordChanging, e.v1) // AWSPREVIOUS now
	e.waitReads(t, 4)
	if got := e.c.Stats().Holds; got != 2 {
		t.Fatalf("forged notices: got %d holds, want 2", got)
	}
	if got := e.prefer(t); got != "" {
		t.Fatalf("after forged notices: Prefer offers %q, want nothing", got)
	}
}

// TestNoticeHoldBound: a "password changing" that no "password changed" follows (lost, or
// forged) holds logins for the bound, then they go on without a preferred version.
func TestNoticeHoldBound(t *testing.T) {
	e, _ := changing(t, 50*time.Millisecond, 1)
	if id := <-e.preferAsync(t.Context()); id != "" {
		t.Fatalf("after the hold bound: Prefer offers %q, want nothing", id)
	}
}

// TestNoticeHoldOff: WithNoticeHold(0) holds no login.
func TestNoticeHoldOff(t *testing.T) {
	changing(t, 0, 0)
}

// changing starts a cache with the hold bound hold, announces a new version, lets the cache
// read it, announces its password changing, and checks that the cache began wantHolds holds.
func changing(t *testing.T, hold time.Duration, wantHolds uint64) (*noticeEnv, string) {
	t.Helper()
	e := newNoticeEnv(t, cache.WithNoticeHold(hold))
	v2 := e.put(t, e.id, "pw-2", rotasafe.StagePending)
	e.send(t, notice.PendingStored, v2)
	e.waitReads(t, 1)
	e.send(t, notice.PasswordChanging, v2)
	if got := e.c.Stats().Holds; got != wantHolds {
		t.Fatalf("got %d holds, want %d", got, wantHolds)
	}
	return e, v2
}

// TestNoticeLead: a "pending stored" notice with a lead spreads its read over the lead
// instead of the notice window (the test's random source puts it at the middle).
func TestNoticeLead(t *testing.T) {
	e := newNoticeEnv(t) // notice window 0: without a lead the read is at once
	v2 := e.put(t, e.id, "pw-2", rotasafe.StagePending)
	e.publish(t, notice.Notice{VersionID: v2, Kind: notice.PendingStored, Lead: time.Hour})
	if got := e.hintReads(); got != 0 {
		t.Fatalf("with a lead of 1h: %d reads at once, want the read 30m later", got)
	}
	v3 := e.put(t, e.id, "pw-3", rotasafe.StagePending)
	e.publish(t, notice.Notice{VersionID: v3, Kind: notice.PendingStored, Lead: 20 * time.Millisecond})
	e.waitReads(t, 1)
	e.send(t, notice.PasswordChanged, v3)
	if got := e.prefer(t); got != v3 {
		t.Fatalf("Prefer offers %q, want %s", got, v3)
	}
	e.waitReads(t, 1)
}

// TestNoticeHoldForgedFlood: a flood of "password changing" notices for versions a forger
// makes up holds nothing and reads no more than the allowance.
func TestNoticeHoldForgedFlood(t *testing.T) {
	e := newNoticeEnv(t, cache.WithNoticeHold(time.Hour))
	for i := range 20 {
		e.send(t, notice.PasswordChanging, fmt.Sprintf("forged-%02d-0000-4000-8000-000000000000", i))
	}
	e.waitReads(t, 3)
	if got := e.c.Stats().Holds; got != 0 {
		t.Fatalf("got %d holds, want none", got)
	}
}

// TestNoticeRereadPending: after a rejected login, a read of AWSPENDING is answered with the
// announced version the cache read by ID, without a call; a rejection of that version reads.
func TestNoticeRereadPending(t *testing.T) {
	e := newNoticeEnv(t)
	v2 := e.put(t, e.id, "pw-2", rotasafe.StagePending)
	e.send(t, notice.PendingStored, v2)
	e.waitReads(t, 1)
	calls := e.calls()
	v, err := e.c.Reread(t.Context(), e.id, rotasafe.StagePending, e.v1)
	if err != nil || v.ID != v2 || v.SecretString != "pw-2" {
		t.Fatalf("Reread AWSPENDING after %s: got %s, %v; want %s", e.v1, v.ID, err, v2)
	}
	if got := e.calls(); got != calls {
		t.Fatalf("Reread made %d calls, want none", got-calls)
	}
	if v, err := e.c.Reread(t.Context(), e.id, rotasafe.StagePending, v2); err != nil || v.ID != v2 || e.calls() != calls+1 {
		t.Fatalf("Reread AWSPENDING after %s was rejected: got %s, %v after %d calls; want a read", v2, v.ID, err, e.calls()-calls)
	}
	// Once reported rejected, the announced version answers no more: a rotation may have
	// begun since with its notices lost.
	v3 := e.put(t, e.id, "pw-3", rotasafe.StagePending)
	if v, err := e.c.Reread(t.Context(), e.id, rotasafe.StagePending, e.v1+"-other"); err != nil || v.ID != v3 || e.calls() != calls+2 {
		t.Fatalf("Reread AWSPENDING after the announced version was rejected: got %s, %v after %d calls; want %s read", v.ID, err, e.calls()-calls, v3)
	}
}
