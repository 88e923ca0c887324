package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
)

var errBoom = errors.New("boom")

const ms = time.Millisecond

// seeded returns a deterministic source of [0, 1) numbers.
func seeded(seed uint64) func() float64 {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Float64
}

func constant(v float64) func() float64 { return func() float64 { return v } }

// waits draws n waits from b, failing on a premature Stop.
func waits(t testing.TB, b backoff.BackOff, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = b.NextBackOff()
		if out[i] == backoff.Stop {
			t.Fatalf("wait %d: got Stop, want a wait", i)
		}
	}
	return out
}

// ceiling is min(Max, Initial*Multiplier^n), computed apart from the code under test.
func ceiling(p Policy, n int) time.Duration {
	if c := float64(p.Initial) * math.Pow(p.Multiplier, float64(n)); c < float64(p.Max) {
		return time.Duration(c)
	}
	return p.Max
}

func TestBackOffExact(t *testing.T) {
	t.Parallel()
	p := Policy{Initial: 100 * ms, Max: time.Second, Multiplier: 2}
	tests := []struct {
		name   string
		jitter Jitter
		rnd    float64
		want   []time.Duration
	}{
		{"none", None, 0.5, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1000 * ms, 1000 * ms}},
		{"full/0.5", Full, 0.5, []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 500 * ms, 500 * ms}},
		{"full/0", Full, 0, []time.Duration{0, 0, 0, 0, 0, 0}},
		{"equal/0.5", Equal, 0.5, []time.Duration{75 * ms, 150 * ms, 300 * ms, 600 * ms, 750 * ms, 750 * ms}},
		{"equal/0", Equal, 0, []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 500 * ms, 500 * ms}},
		// prev starts at base: 100+.5*(300-100)=200, 100+.5*(600-100)=350, 575, 912.5, min(1s, 1418.75)
		{"decorrelated/0.5", Decorrelated, 0.5, []time.Duration{200 * ms, 350 * ms, 575 * ms, 912500 * time.Microsecond, 1000 * ms, 1000 * ms}},
		{"decorrelated/0", Decorrelated, 0, []time.Duration{100 * ms, 100 * ms, 100 * ms, 100 * ms, 100 * ms, 100 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := p
			p.Jitter = tt.jitter
			b := p.newBackOff(constant(tt.rnd))
			if got := waits(t, b, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			b.Reset()
			if got := waits(t, b, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Errorf("after Reset: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackOffBounds(t *testing.T) {
	t.Parallel()
	policies := []struct {
		name string
		p    Policy
	}{
		{"defaults", Policy{Initial: DefaultInitial, Max: DefaultMax, Multiplier: DefaultMultiplier}},
		{"x1.5", Policy{Initial: 64 * ms, Max: time.Second, Multiplier: 1.5}},
		{"x3", Policy{Initial: 10 * ms, Max: 5 * time.Second, Multiplier: 3}},
		{"constant", Policy{Initial: 200 * ms, Max: time.Second, Multiplier: 1}},
		{"initial=max", Policy{Initial: time.Second, Max: time.Second, Multiplier: 2}},
		{"max=MaxInt64", Policy{Initial: time.Hour, Max: math.MaxInt64, Multiplier: 10}},
	}
	for _, j := range []Jitter{None, Full, Equal, Decorrelated} {
		for _, pc := range policies {
			t.Run(fmt.Sprintf("jitter=%v/%s", j, pc.name), func(t *testing.T) {
				t.Parallel()
				p := pc.p
				p.Jitter = j
				rnd := seeded(uint64(j)*100 + uint64(len(pc.name)))
				for loop := range 200 {
					b := p.newBackOff(rnd)
					prev := p.Initial
					for n, d := range waits(t, b, 16) {
						c := ceiling(p, n)
						lo, hi := time.Duration(0), c
						switch j {
						case None:
							lo = c
						case Equal:
							lo = c / 2
						case Decorrelated:
							lo, hi = p.Initial, min(p.Max, 3*prev)
						}
						if d < lo || d > hi || d > p.Max {
							t.Fatalf("loop %d wait %d: got %v, want in [%v, %v] and at most Max %v", loop, n, d, lo, hi, p.Max)
						}
						prev = d
					}
				}
			})
		}
	}
}

// TestSpread draws 10,000 waits at the cap and checks they fill the mode's interval.
func TestSpread(t *testing.T) {
	t.Parallel()
	const (
		draws   = 10000
		buckets = 10
	)
	p := Policy{Initial: 10 * ms, Max: time.Second, Multiplier: 2}
	tests := []struct {
		jitter Jitter
		lo, hi time.Duration
		// maxShare bounds the share of draws in any one bucket.
		maxShare float64
	}{
		{Full, 0, time.Second, 0.12},
		{Equal, 500 * ms, time.Second, 0.12},
		// Decorrelated piles up at the cap (min(cap, ...)) but must still reach the floor.
		{Decorrelated, 10 * ms, time.Second, 0.75},
	}
	for _, tt := range tests {
		t.Run("jitter="+tt.jitter.String(), func(t *testing.T) {
			t.Parallel()
			p := p
			p.Jitter = tt.jitter
			b := p.newBackOff(seeded(42))
			waits(t, b, 8) // ceiling at the cap from here on
			var (
				hist   [buckets]int
				lo, hi = time.Duration(math.MaxInt64), time.Duration(0)
				width  = tt.hi - tt.lo
			)
			for _, d := range waits(t, b, draws) {
				lo, hi = min(lo, d), max(hi, d)
				hist[min(buckets-1, int(float64(d-tt.lo)/float64(width)*buckets))]++
			}
			if lo < tt.lo || hi > tt.hi {
				t.Fatalf("got waits in [%v, %v], want within [%v, %v]", lo, hi, tt.lo, tt.hi)
			}
			if lo > tt.lo+width/100 {
				t.Errorf("got min %v, want within 1%% of the floor %v", lo, tt.lo)
			}
			if hi < tt.hi-width/100 {
				t.Errorf("got max %v, want within 1%% of the cap %v", hi, tt.hi)
			}
			for i, n := range hist {
				if share := float64(n) / draws; share > tt.maxShare {
					t.Errorf("bucket %d holds %.1f%% of the waits, want at most %.0f%%: %v", i, 100*share, 100*tt.maxShare, hist)
				}
				if n == 0 {
					t.Errorf("bucket %d is empty: %v", i, hist)
				}
			}
		})
	}
}

// TestIndependentSources checks that clients do not retry in lockstep: different sources
// draw different sequences, while one seed replays exactly (which the exact tests rely on).
// Waits equal to the cap are not counted: Decorrelated's min(cap, ...) repeats the cap.
func TestIndependentSources(t *testing.T) {
	t.Parallel()
	p := Policy{Initial: 100 * ms, Max: 10 * time.Second}
	for _, j := range []Jitter{Full, Equal, Decorrelated} {
		t.Run("jitter="+j.String(), func(t *testing.T) {
			t.Parallel()
			p := p
			p.Jitter = j
			same := func(a, b []time.Duration) int {
				n := 0
				for i := range a {
					if a[i] == b[i] && a[i] != p.Max {
						n++
					}
				}
				return n
			}
			a := waits(t, p.newBackOff(seeded(1)), 20)
			b := waits(t, p.newBackOff(seeded(2)), 20)
			if n := same(a, b); n > 1 {
				t.Errorf("seeds 1 and 2: %d of 20 waits equal, want at most 1:\n%v\n%v", n, a, b)
			}
			if c := waits(t, p.newBackOff(seeded(1)), 20); !slices.Equal(a, c) {
				t.Errorf("seed 1 twice: got %v and %v, want equal", a, c)
			}
			x, y := waits(t, p.NewBackOff(), 20), waits(t, p.NewBackOff(), 20)
			if n := same(x, y); n > 1 {
				t.Errorf("two NewBackOff: %d of 20 waits equal, want at most 1:\n%v\n%v", n, x, y)
			}
		})
	}
}

func TestNormalized(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    Policy
		want []time.Duration // drawn with rnd = 0.5
	}{
		{"zero/none", Policy{Jitter: None}, []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 2000 * ms, 2000 * ms}},
		{"zero is full", Policy{}, []time.Duration{25 * ms, 50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1000 * ms, 1000 * ms}},
		{"negative", Policy{Initial: -1, Max: -1, Multiplier: -3, MaxAttempts: -1, MaxElapsed: -1, Jitter: None}, []time.Duration{50 * ms, 50 * ms, 50 * ms}},
		{"multiplier below 1", Policy{Initial: 100 * ms, Multiplier: 0.5, Jitter: None}, []time.Duration{100 * ms, 100 * ms, 100 * ms}},
		{"multiplier NaN", Policy{Initial: 100 * ms, Multiplier: math.NaN(), Jitter: None}, []time.Duration{100 * ms, 200 * ms, 400 * ms}},
		{"initial above max", Policy{Initial: 5 * time.Second, Max: time.Second, Jitter: None}, []time.Duration{time.Second, time.Second}},
		{"unknown jitter is full", Policy{Initial: 100 * ms, Jitter: Jitter(99)}, []time.Duration{50 * ms, 100 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := waits(t, tt.p.newBackOff(constant(0.5)), len(tt.want)); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDefaultIsBounded(t *testing.T) {
	t.Parallel()
	if p := Default(); p.MaxElapsed <= 0 && p.MaxAttempts <= 0 {
		t.Fatalf("Default() = %+v has no bound", p)
	}
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		calls := 0
		err := Do(context.Background(), Default(), func(context.Context) error { calls++; return errBoom })
		elapsed := time.Since(start)
		ex, ok := errors.AsType[*ExhaustedError](err)
		if !ok || ex.CtxErr != nil || !errors.Is(err, errBoom) {
			t.Fatalf("got %v, want an ExhaustedError of the policy wrapping errBoom", err)
		}
		if elapsed > DefaultMaxElapsed || ex.Elapsed != elapsed || ex.Attempts != calls {
			t.Errorf("got %d calls in %v (error says %d in %v), want the same and at most %v", calls, elapsed, ex.Attempts, ex.Elapsed, DefaultMaxElapsed)
		}
	})
}

// TestBackOffMaxElapsed drives NewBackOff's BackOff alone, as backoff.Retry users do.
func TestBackOffMaxElapsed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := Policy{Initial: 300 * ms, Max: 300 * ms, MaxElapsed: time.Second, Jitter: None}.NewBackOff()
		var got []time.Duration
		for d := b.NextBackOff(); d != backoff.Stop; d = b.NextBackOff() {
			got = append(got, d)
			time.Sleep(d)
		}
		if want := []time.Duration{300 * ms, 300 * ms, 300 * ms}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v (a fourth wait would end at 1.2s)", got, want)
		}
		b.Reset()
		if d := b.NextBackOff(); d != 300*ms {
			t.Errorf("after Reset: got %v, want 300ms", d)
		}
	})
}

// TestBackOffHugeWaits checks that waits near MaxInt64 neither overflow nor slip past
// MaxElapsed.
func TestBackOffHugeWaits(t *testing.T) {
	t.Parallel()
	for _, j := range []Jitter{None, Full, Equal, Decorrelated} {
		t.Run("jitter="+j.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				p := Policy{Initial: math.MaxInt64, Max: math.MaxInt64, MaxElapsed: 24 * time.Hour, Jitter: j}
				b := p.newBackOff(constant(0.999))
				time.Sleep(time.Second) // elapsed + the wait would overflow
				if d := b.NextBackOff(); d != backoff.Stop {
					t.Errorf("got %v, want Stop: every wait is longer than MaxElapsed", d)
				}
			})
			p := Policy{Initial: 1000 * time.Hour, Max: math.MaxInt64, Multiplier: 1e6, Jitter: j}
			b := p.newBackOff(constant(0.999))
			for n, d := range waits(t, b, 8) {
				if d < 0 {
					t.Fatalf("wait %d: got %v, want positive", n, d)
				}
			}
		})
	}
}

func TestBackOffWithBackoffRetry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		err := backoff.Retry(func() error { calls++; return errBoom }, Policy{MaxAttempts: 3}.NewBackOff())
		if calls != 3 || err != errBoom {
			t.Errorf("got %d calls and %v, want 3 and boom", calls, err)
		}
	})
}

func TestDoMaxAttempts(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 5, 12} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var calls, notified int
				p := Policy{MaxAttempts: n, OnRetry: func(attempt int, err error, wait time.Duration) {
					notified++
					if attempt != calls || err != errBoom {
						t.Errorf("OnRetry(%d, %v, %v): want attempt %d and boom", attempt, err, wait, calls)
					}
				}}
				err := Do(t.Context(), p, func(context.Context) error { calls++; return errBoom })
				if calls != n || notified != n-1 {
					t.Errorf("got %d calls and %d OnRetry, want %d and %d", calls, notified, n, n-1)
				}
				ex, ok := errors.AsType[*ExhaustedError](err)
				if !ok || ex.Attempts != n || ex.CtxErr != nil || !errors.Is(err, errBoom) {
					t.Errorf("got %#v, want ExhaustedError{Attempts: %d} wrapping boom", err, n)
				}
			})
		})
	}
}

func TestDoMaxElapsed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		p         Policy
		wantCalls int // 0: any
	}{
		// Calls at 0, 100ms, ..., 1s; a 12th would start at 1.1s.
		{"none", Policy{Initial: 100 * ms, Max: 100 * ms, MaxElapsed: time.Second, Jitter: None}, 11},
		{"full", Policy{Initial: 100 * ms, Max: 100 * ms, MaxElapsed: time.Second}, 0},
		{"decorrelated", Policy{Initial: 10 * ms, Max: 500 * ms, MaxElapsed: 3 * time.Second, Jitter: Decorrelated}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var starts []time.Duration
				start := time.Now()
				err := Do(t.Context(), tt.p, func(context.Context) error {
					starts = append(starts, time.Since(start))
					return errBoom
				})
				ex, ok := errors.AsType[*ExhaustedError](err)
				if !ok || ex.CtxErr != nil || ex.Attempts != len(starts) || !errors.Is(err, errBoom) {
					t.Fatalf("got %v, want an ExhaustedError of the policy after %d calls", err, len(starts))
				}
				if tt.wantCalls != 0 && len(starts) != tt.wantCalls {
					t.Errorf("got %d calls, want %d", len(starts), tt.wantCalls)
				}
				if len(starts) < 2 {
					t.Errorf("got %d calls, want retries", len(starts))
				}
				if last := starts[len(starts)-1]; last > tt.p.MaxElapsed || time.Since(start) != last {
					t.Errorf("last call at %v, Do returned at %v; want both the same and at most %v", last, time.Since(start), tt.p.MaxElapsed)
				}
			})
		})
	}
}

func TestDoStopsAtOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		retryable func(error) bool
		err       error
	}{
		{"Permanent", nil, Permanent(errBoom)},
		{"wrapped Permanent", nil, fmt.Errorf("dial: %w", Permanent(errBoom))},
		{"backoff.Permanent", nil, backoff.Permanent(errBoom)},
		{"not Retryable", func(err error) bool { return !errors.Is(err, errBoom) }, errBoom},
		{"Permanent though Retryable", func(error) bool { return true }, Permanent(errBoom)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				calls := 0
				p := Policy{Retryable: tt.retryable, OnRetry: func(int, error, time.Duration) { t.Error("OnRetry called") }}
				err := Do(t.Context(), p, func(context.Context) error { calls++; return tt.err })
				if calls != 1 {
					t.Errorf("got %d calls, want 1", calls)
				}
				if err != errBoom {
					t.Errorf("got %#v, want the inner error boom itself", err)
				}
			})
		})
	}
	if err := Permanent(nil); err != nil {
		t.Errorf("Permanent(nil) = %v, want nil", err)
	}
}

func TestDoSucceeds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		v, err := DoValue(t.Context(), Policy{MaxAttempts: 5}, func(context.Context) (string, error) {
			calls++
			if calls < 3 {
				return "partial", errBoom
			}
			return "ok", nil
		})
		if v != "ok" || err != nil || calls != 3 {
			t.Errorf("got %q, %v after %d calls, want ok, nil after 3", v, err, calls)
		}
		v, err = DoValue(t.Context(), Policy{MaxAttempts: 2}, func(context.Context) (string, error) { return "partial", errBoom })
		if v != "" || err == nil {
			t.Errorf("got %q, %v, want the zero value and an error", v, err)
		}
	})
}

func TestDoContextEnds(t *testing.T) {
	t.Parallel()
	errRotation := errors.New("rotation finished")
	tests := []struct {
		name string
		// ctx returns the context to pass to Do, arranging for it to end.
		ctx       func(t *testing.T) context.Context
		p         Policy
		callTakes time.Duration // how long each call of fn runs
		wantCalls int
		wantAt    time.Duration // when Do returns, on the fake clock
		wantCtx   error
	}{
		{
			name: "cancel during wait",
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				time.AfterFunc(10*ms, cancel)
				return ctx
			},
			p:         Policy{Initial: time.Hour, Max: time.Hour, Jitter: None},
			wantCalls: 1, wantAt: 10 * ms, wantCtx: context.Canceled,
		},
		{
			name: "cancel with cause",
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithCancelCause(t.Context())
				time.AfterFunc(250*ms, func() { cancel(errRotation) })
				return ctx
			},
			p:         Policy{Initial: 100 * ms, Max: 100 * ms, Jitter: None},
			wantCalls: 3, wantAt: 250 * ms, wantCtx: errRotation,
		},
		{
			name: "deadline shorter than first wait",
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				t.Cleanup(cancel)
				return ctx
			},
			p:         Policy{Initial: 5 * time.Second, Max: 5 * time.Second, Jitter: None},
			wantCalls: 1, wantAt: 0, wantCtx: context.DeadlineExceeded,
		},
		{
			name: "deadline before the fifth call",
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				t.Cleanup(cancel)
				return ctx
			},
			// Calls at 0, 300ms, 600ms, 900ms; a wait to 1.2s would pass the deadline.
			p:         Policy{Initial: 300 * ms, Max: 300 * ms, Jitter: None},
			wantCalls: 4, wantAt: 900 * ms, wantCtx: context.DeadlineExceeded,
		},
		{
			name: "deadline equal to the wait",
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), 100*ms)
				t.Cleanup(cancel)
				return ctx
			},
			p:         Policy{Initial: 100 * ms, Max: 100 * ms, Jitter: None},
			wantCalls: 1, wantAt: 0, wantCtx: context.DeadlineExceeded,
		},
		{
			name: "deadline passes during a call",
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), 150*ms)
				t.Cleanup(cancel)
				return ctx
			},
			// fn takes 100ms: calls at 0 and 110ms; the second ends at 210ms, past the deadline.
			p:         Policy{Initial: 10 * ms, Max: 10 * ms, Jitter: None},
			callTakes: 100 * ms,
			wantCalls: 2, wantAt: 210 * ms, wantCtx: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				ctx := tt.ctx(t)
				calls := 0
				err := Do(ctx, tt.p, func(ctx context.Context) error {
					calls++
					time.Sleep(tt.callTakes)
					return fmt.Errorf("attempt %d: %w", calls, errBoom)
				})
				if at := time.Since(start); at != tt.wantAt {
					t.Errorf("Do returned at %v, want %v", at, tt.wantAt)
				}
				if calls != tt.wantCalls {
					t.Errorf("got %d calls, want %d", calls, tt.wantCalls)
				}
				if !errors.Is(err, tt.wantCtx) || !errors.Is(err, errBoom) {
					t.Errorf("got %v, want one matching both %v and boom", err, tt.wantCtx)
				}
				if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
					t.Errorf("got %v, want one matching ctx.Err() %v", err, cerr)
				}
				ex, ok := errors.AsType[*ExhaustedError](err)
				if !ok || ex.Attempts != calls || ex.Elapsed != tt.wantAt {
					t.Fatalf("got %#v, want an ExhaustedError of %d attempts in %v", err, calls, tt.wantAt)
				}
				if want := fmt.Sprintf("attempt %d: boom", calls); ex.Err.Error() != want {
					t.Errorf("got last error %q, want %q", ex.Err, want)
				}
			})
		})
	}
}

func TestDoContextAlreadyDone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := Do(ctx, Policy{}, func(context.Context) error { t.Error("fn called"); return nil })
	if err != context.Canceled {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestExhaustedErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *ExhaustedError
		want string
	}{
		{&ExhaustedError{Attempts: 7, Elapsed: 3123456789, Err: errBoom}, "retry: gave up after 7 attempts in 3.123s: boom"},
		{&ExhaustedError{Attempts: 1, Elapsed: 0, Err: errBoom}, "retry: gave up after 1 attempt in 0s: boom"},
		{&ExhaustedError{Attempts: 2, Elapsed: 900 * ms, Err: errBoom, CtxErr: context.DeadlineExceeded}, "retry: context deadline exceeded after 2 attempts in 900ms: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestJitterString(t *testing.T) {
	t.Parallel()
	for j, want := range map[Jitter]string{Full: "full", Equal: "equal", Decorrelated: "decorrelated", None: "none", Jitter(-2): "jitter(-2)"} {
		if got := j.String(); got != want {
			t.Errorf("Jitter(%d).String() = %q, want %q", int(j), got, want)
		}
	}
}

func BenchmarkNewBackOff(b *testing.B) {
	for _, j := range []Jitter{None, Full, Equal, Decorrelated} {
		for _, maxAttempts := range []int{0, 10} {
			b.Run(fmt.Sprintf("jitter=%v/maxattempts=%d", j, maxAttempts), func(b *testing.B) {
				p := Policy{Jitter: j, MaxAttempts: maxAttempts, MaxElapsed: time.Minute}
				b.ReportAllocs()
				for b.Loop() {
					bo := p.NewBackOff()
					for range 10 {
						bo.NextBackOff()
					}
				}
			})
		}
	}
}

func BenchmarkNextBackOff(b *testing.B) {
	for _, j := range []Jitter{None, Full, Equal, Decorrelated} {
		b.Run("jitter="+j.String(), func(b *testing.B) {
			bo := Policy{Jitter: j, MaxElapsed: time.Hour}.NewBackOff()
			b.ReportAllocs()
			for b.Loop() {
				bo.NextBackOff()
			}
		})
	}
}

func BenchmarkDoFirstTry(b *testing.B) {
	ctx := context.Background()
	p := Default()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := Do(ctx, p, fn); err != nil {
			b.Fatal(err)
		}
	}
}
