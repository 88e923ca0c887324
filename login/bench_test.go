package login_test

import (
	"context"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/login"
)

// fixedSource is a Source whose every read answers v: the walk's own cost, without a cache.
type fixedSource struct{ v rotasafe.Version }

func (s fixedSource) Get(context.Context, string) (rotasafe.Version, error) { return s.v, nil }
func (s fixedSource) Reread(context.Context, string, string, string) (rotasafe.Version, error) {
	return s.v, nil
}

// firstTry returns a Login whose first try works. Its context has a deadline, as a pool's
// connects usually have: without one the Login makes its own, which allocates.
func firstTry(tb testing.TB) func() {
	src := fixedSource{rotasafe.Version{ID: "v1", Stages: []string{rotasafe.StageCurrent}}}
	w := login.New(src, "s", login.WithLogger(nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	tb.Cleanup(cancel)
	try := func(context.Context, rotasafe.Version) error { return nil }
	return func() {
		if _, err := w.Login(ctx, try); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestFirstTryDoesNotAllocate pins the zero allocations of a Login whose first try works,
// the path of nearly every connect.
func TestFirstTryDoesNotAllocate(t *testing.T) {
	do := firstTry(t)
	do()
	if n := testing.AllocsPerRun(100, do); n != 0 {
		t.Errorf("allocations per Login: got %v, want 0", n)
	}
}

// TestTryStaysOnStack: a Try that is a closure over the caller's variables, as a client's
// Try that keeps what it logged in with, costs no allocation either: Login does not let it
// escape, so neither it nor what it captures by reference moves to the heap.
func TestTryStaysOnStack(t *testing.T) {
	src := fixedSource{rotasafe.Version{ID: "v1", Stages: []string{rotasafe.StageCurrent}}}
	w := login.New(src, "s", login.WithLogger(nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if n := testing.AllocsPerRun(100, func() {
		var got string // set by the Try: captured by reference
		_, err := w.Login(ctx, func(_ context.Context, v rotasafe.Version) error {
			got = v.ID
			return nil
		})
		if err != nil || got != "v1" {
			t.Fatalf("Login: %v, the Try saw %q", err, got)
		}
	}); n != 0 {
		t.Errorf("allocations per Login with a closure: got %v, want 0", n)
	}
}

// TestFirstTryWithoutDeadline: a Login whose context has no deadline (a pool's opener
// goroutine) and whose first try works makes no more allocations than its attempt's
// timeout context: the bound of the whole Login waits until a second attempt needs it.
func TestFirstTryWithoutDeadline(t *testing.T) {
	src := fixedSource{rotasafe.Version{ID: "v1", Stages: []string{rotasafe.StageCurrent}}}
	w := login.New(src, "s", login.WithLogger(nil), login.WithAttemptTimeout(time.Hour))
	ctx := context.Background()
	try := func(context.Context, rotasafe.Version) error { return nil }
	got := testing.AllocsPerRun(100, func() {
		if _, err := w.Login(ctx, try); err != nil {
			t.Fatal(err)
		}
	})
	want := testing.AllocsPerRun(100, func() {
		_, cancel := context.WithTimeout(ctx, time.Hour)
		cancel()
	})
	if got > want {
		t.Errorf("allocations per Login: got %v, want at most the attempt's context's %v", got, want)
	}
}

// BenchmarkLoginFirstTry measures the walk around a Login whose first try works.
func BenchmarkLoginFirstTry(b *testing.B) {
	do := firstTry(b)
	b.ReportAllocs()
	for b.Loop() {
		do()
	}
}
