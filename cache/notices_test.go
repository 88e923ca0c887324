package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/notice"
)

// pipe is an in-process notice.Transport: Publish hands a notice to every Subscribe running,
// in order. It stands in for Redis or NATS where the test is about what the cache does with
// notices (the transports have their own tests on real servers).
type pipe struct {
	mu   sync.Mutex
	subs map[chan notice.Notice]bool
	fail error // Subscribe returns it at once when set
}

func newPipe() *pipe { return &pipe{subs: map[chan notice.Notice]bool{}} }

func (p *pipe) Publish(_ context.Context, n notice.Notice) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ch := range p.subs {
		ch <- n
	}
	return nil
}

func (p *pipe) Subscribe(ctx context.Context, handle func(notice.Notice)) error {
	ch := make(chan notice.Notice, 64)
	p.mu.Lock()
	if p.fail != nil {
		p.mu.Unlock()
		return p.fail
	}
	p.subs[ch] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.subs, ch)
		p.mu.Unlock()
	}()
	for {
		select {
		case n := <-ch:
			handle(n)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *pipe) subscribers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.subs)
}

// noticeEnv is an env whose cache listens on a pipe, and one secret it has read.
type noticeEnv struct {
	*env
	p       *pipe
	id, arn string
	v1      string // the first version, AWSCURRENT
}

func newNoticeEnv(t *testing.T, opts ...cache.Option) *noticeEnv {
	t.Helper()
	p := newPipe()
	e := &noticeEnv{env: newEnv(t, append([]cache.Option{cache.WithNotices(p), cache.WithNoticeWindow(0)}, opts...)...), p: p, id: "db"}
	e.v1 = e.create(t, e.id, "pw-1")
	v := e.mustGet(t, e.id)
	e.arn = v.ARN
	eventually(t, "the cache to subscribe", func() bool { return p.subscribers() == 1 })
	return e
}

// send publishes a notice about the env's secret and waits until the cache has taken it.
func (e *noticeEnv) send(t *testing.T, kind notice.Kind, version string) {
	t.Helper()
	e.sendARN(t, e.arn, kind, version)
}

func (e *noticeEnv) sendARN(t *testing.T, arn string, kind notice.Kind, version string) {
	t.Helper()
	before := e.c.Stats().Notices
	if err := e.p.Publish(t.Context(), notice.Notice{SecretARN: arn, VersionID: version, Kind: kind}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the notice to arrive", func() bool { return e.c.Stats().Notices > before })
}

// hintReads returns the reads by version ID, which only notices make.
func (e *noticeEnv) hintReads() int64 { return e.c.Stats().Reads.Other }

// waitReads waits until notices have made n reads and those reads have settled.
func (e *noticeEnv) waitReads(t *testing.T, n int64) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d reads", n), func() bool { return e.hintReads() >= n })
	// Reads counts a read when it starts: wait until the reads have stored their answers,
	// which a loaded machine may take a while to do.
	eventually(t, "the notices' reads to settle", func() bool {
		return len(fixture.Goroutines(func(s string) bool { return strings.Contains(s, "cache.(*Cache).readHint.func") })) == 0
	})
	e.prefer(t) // waits for a read in flight of a changed version
	time.Sleep(5 * time.Millisecond)
	if got := e.hintReads(); got != n {
		t.Fatalf("notices made %d reads, want %d", got, n)
	}
}

// prefer returns the ID Prefer offers, or "".
func (e *noticeEnv) prefer(t *testing.T) string {
	t.Helper()
	v, ok := e.c.Prefer(t.Context(), e.id)
	if !ok {
		return ""
	}
	if v.SecretString == "" {
		t.Fatal("Prefer returned a version without its value")
	}
	return v.ID
}

// finish moves AWSCURRENT to version, as finishSecret does.
func (e *noticeEnv) finish(t *testing.T, version string) {
	t.Helper()
	cur, _ := e.srv.Stages(e.id).VersionOf(rotasafe.StageCurrent)
	_, err := e.client.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: &e.id, VersionStage: new(rotasafe.StageCurrent), MoveToVersionId: &version, RemoveFromVersionId: &cur})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoticesRotation follows one rotation's three notices: the new version is read once,
// offered from "password changed" on, and becomes the cached AWSCURRENT at "finished"
// without a read of AWSCURRENT.
func TestNoticesRotation(t *testing.T) {
	e := newNoticeEnv(t)
	v2 := e.put(t, e.id, "pw-2", rotasafe.StagePending)

	e.send(t, notice.PendingStored, v2)
	e.waitReads(t, 1)
	if got := e.prefer(t); got != "" {
		t.Fatalf("after pending stored: Prefer offers %s, want nothing (the database does not take it yet)", got)
	}
	e.send(t, notice.PasswordChanged, v2)
	if got := e.prefer(t); got != v2 {
		t.Fatalf("after password changed: Prefer offers %q, want %s", got, v2)
	}
	e.waitReads(t, 1) // the value was read already

	e.finish(t, v2)
	calls := e.calls()
	e.send(t, notice.Finished, v2)
	e.waitCurrent(t, v2)
	if got := e.mustGet(t, e.id); got.SecretString != "pw-2" {
		t.Fatalf("after finished: Get returns %s's value, want pw-2", got.ID)
	}
	if got := e.calls(); got != calls {
		t.Fatalf("learning AWSCURRENT took %d calls, want none: the version read as AWSPENDING is it", got-calls)
	}
	e.waitReads(t, 1)
	if got := e.prefer(t); got != "" {
		t.Fatalf("once AWSCURRENT moved: Prefer offers %s, want nothing", got)
	}
	// Late and repeated notices of the finished rotation change nothing.
	for _, k := range []notice.Kind{notice.PendingStored, notice.PasswordChanging, notice.PasswordChanged, notice.Finished} {
		e.send(t, k, v2)
	}
	e.waitReads(t, 1)
	if got := e.calls(); got != calls {
		t.Fatalf("late notices made %d calls, want none", got-calls)
	}
	// The next normal refresh confirms AWSCURRENT.
	e.clock.Advance(2 * time.Hour)
	if got := e.mustGet(t, e.id); got.ID != v2 || e.c.Stats().Reads.Current == 0 {
		t.Fatalf("after the TTL: Get returns %s after %d reads of AWSCURRENT, want %s read again", got.ID, e.c.Stats().Reads.Current, v2)
	}
}

// waitCurrent waits until the cache holds version as AWSCURRENT, without reading it itself.
func (e *noticeEnv) waitCurrent(t *testing.T, version string) {
	t.Helper()
	eventually(t, "AWSCURRENT to move to "+version, func() bool {
		v, err := e.c.GetStage(t.Context(), e.id, rotasafe.StageCurrent)
		return err == nil && v.ID == version
	})
}

// TestNoticesLost: each notice alone does its part.
func TestNoticesLost(t *testing.T) {
	t.Run("only password changed", func(t *testing.T) {
		e := newNoticeEnv(t)
		v2 := e.put(t, e.id, "pw-2", rotasafe.StagePending)
		e.send(t, notice.PasswordChanged, v2)
		if got := e.prefer(t); got != v2 { // waits for the read
			t.Fatalf("Prefer offers %q, want %s", got, v2)
		}
		e.waitReads(t, 1)
	})
	t.Run("only finished", func(t *testing.T) {
		e := newNoticeEnv(t)
		v2 := e.put(t, e.id, "pw-2", rotasafe.StagePending)
		e.finish(t, v2)
		e.send(t, notice.Finished, v2)
		e.waitReads(t, 1)
		if got := e.mustGet(t, e.id); got.ID != v2 {
			t.Fatalf("Get returns %s, want %s", got.ID, v2)
		}
	})
	t.Run("none", func(t *testing.T) {
		e := newNoticeEnv(t)
		e.put(t, e.id, "pw-2", rotasafe.StagePending)
		if got := e.prefer(t); got != "" || e.hintReads() != 0 {
			t.Fatalf("without notices: Prefer offers %q after %d reads, want nothing", got, e.hintReads())
		}
	})
}

// TestNoticesReordered: notices that arrive out of order end where the ordered ones do, and
// an old rotation's notice after a newer one's is ignored.
func TestNoticesReordered(t *testing.T) {
	e := newNoticeEnv(t)
	v2 := e.put(t, e.id, "pw-2", rotasafe.StagePending)
	e.send(t, notice.PasswordChanged, v2)
	e.send(t, notice.PendingStored, v2)
	if got := e.prefer(t); got != v2 {
		t.Fatalf("Prefer offers %q, want %s", got, v2)
	}
	e.waitReads(t, 1)

	// Finished before the label moved (early, or forged with a real pending version): the
	// cache takes the version read as AWSPENDING for AWSCURRENT, with no call; the database
	// and the next refresh have the last word.
	calls := e.calls()
	e.send(t, notice.Finished, v2)
	e.waitCurrent(t, v2)
	e.finish(t, v2)
	e.send(t, notice.Finished, v2) // repeated: nothing
	if got := e.calls(); got != calls {
		t.Fatalf("finished notices made %d calls, want none", got-calls)
	}
	v3 := e.put(t, e.id, "pw-3", rotasafe.StagePending)
	e.send(t, notice.PasswordChanged, v3)
	if got := e.prefer(t); got != v3 {
		t.Fatalf("Prefer offers %q, want %s", got, v3)
	}
	e.waitReads(t, 2)
	// A notice of the first version (AWSPREVIOUS now) arrives late: read once, not offered.
	e.clock.Advance(time.Second) // the allowance is spent: one more read a second
	e.send(t, notice.PasswordChanged, e.v1)
	e.waitReads(t, 3)
	if got := e.prefer(t); got != v3 {
		t.Fatalf("after a stale notice: Prefer offers %q, want %s still", got, v3)
	}
	if !strings.Contains(e.logs.String(), "neither AWSPENDING nor AWSCURRENT") {
		t.Error("the stale notice was not logged")
	}
}

// TestNoticesForged: notices naming versions that do not exist, or secrets the cache does not
// read, cost at most the reads the refresh floor allows, and offer nothing.
func TestNoticesForged(t *testing.T) {
	e := newNoticeEnv(t)
	for i := range 20 {
		e.send(t, notice.PasswordChanged, fmt.Sprintf("forged-%02d-0000-4000-8000-000000000000", i))
	}
	e.waitReads(t, 3) // the burst
	if got := e.prefer(t); got != "" {
		t.Fatalf("Prefer offers %s, a version no one stored", got)
	}
	e.clock.Advance(time.Second) // one MinRefreshInterval: one more read
	for i := range 5 {
		e.send(t, notice.PasswordChanged, fmt.Sprintf("forged-%02d-1111-4000-8000-000000000000", i))
	}
	e.waitReads(t, 4)

	// A secret the cache has not read costs nothing.
	other := e.create(t, "other", "pw-other")
	e.sendARN(t, strings.Replace(e.arn, ":db-", ":other-", 1), notice.PasswordChanged, other)
	e.waitReads(t, 4)
}

// TestPreferWaitsForRead: a login that asks while the announced version is being read waits
// for it; when Secrets Manager is slow, not for more than a second.
func TestPreferWaitsForRead(t *testing.T) {
	e := newNoticeEnv(t)
	v2 := e.put(t, e.id, "pw-2", rotasafe.StagePending)
	e.srv.Faults().Latency("GetSecretValue", 100*time.Millisecond)
	e.send(t, notice.PasswordChanged, v2)
	if got := e.prefer(t); got != v2 {
		t.Fatalf("Prefer offers %q, want %s after waiting for the read", got, v2)
	}

	v3 := e.put(t, e.id, "pw-3", rotasafe.StagePending)
	e.srv.Faults().Latency("GetSecretValue", 3*time.Second)
	e.send(t, notice.PasswordChanged, v3)
	if got := e.prefer(t); got != v2 {
		t.Fatalf("with a read slower than the bound: Prefer offers %q, want the last version read (%s)", got, v2)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, ok := e.c.Prefer(ctx, e.id); !ok {
		t.Fatal("Prefer with an ended context: want the version read so far")
	}
}

// TestNoticesSpread: "pending stored" reads within the window; "password changed" before
// that reads at once, and the spread read does not happen.
func TestNoticesSpread(t *testing.T) {
	e := newNoticeEnv(t, cache.WithNoticeWindow(300*time.Millisecond), cache.WithRand(nil))
	v2 := e.put(t, e.id, "pw-2", rotasafe.StagePending)
	e.send(t, notice.PendingStored, v2)
	e.waitReads(t, 1)

	v3 := e.put(t, e.id, "pw-3", rotasafe.StagePending)
	e.send(t, notice.PendingStored, v3)
	e.send(t, notice.PasswordChanged, v3)
	if got := e.prefer(t); got != v3 {
		t.Fatalf("Prefer offers %q, want %s", got, v3)
	}
	time.Sleep(400 * time.Millisecond) // past the window: the spread read would have run
	if got := e.hintReads(); got != 2 {
		t.Fatalf("notices made %d reads, want 2", got)
	}
}

// TestNoticesResubscribe: a transport whose Subscribe fails is subscribed again; Close stops
// the listener.
func TestNoticesResubscribe(t *testing.T) {
	p := newPipe()
	p.fail = errors.New("transport down")
	e := &noticeEnv{env: newEnv(t, cache.WithNotices(p)), p: p}
	eventually(t, "the failure to be logged", func() bool { return strings.Contains(e.logs.String(), "rotation notices stopped") })
	p.mu.Lock()
	p.fail = nil
	p.mu.Unlock()
	eventually(t, "the cache to subscribe again", func() bool { return p.subscribers() == 1 })
	e.c.Close()
	if n := p.subscribers(); n != 0 {
		t.Fatalf("after Close: %d subscribers, want 0", n)
	}
}

func TestNoticeWindowOption(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "WithNoticeWindow") {
			t.Fatalf("got panic %v, want one naming WithNoticeWindow", r)
		}
	}()
	cache.New(newEnv(t).client, cache.WithNoticeWindow(-time.Second))
}
