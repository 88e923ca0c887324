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
