package retry

import (
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// NewBackOff returns a fresh [backoff.BackOff] that yields the policy's jittered waits and
// returns [backoff.Stop] once MaxAttempts calls have been made or the next wait would end
// more than MaxElapsed after the BackOff was created or last Reset. Retryable and OnRetry
// are not part of it; [Do] applies them.
//
// Like every BackOff of package backoff it is not safe for concurrent use: make one per
// retry loop. Random numbers come from math/rand/v2's global source, so BackOffs in
// different processes (and in one process) draw independent sequences. To stop on a
// context, wrap it with [backoff.WithContext]; [Do] does that and more.
func (p Policy) NewBackOff() backoff.BackOff {
	return p.newBackOff(rand.Float64)
}

// newBackOff is NewBackOff with the source of random numbers given: rnd must return values
// in [0, 1). Tests pass a seeded *rand.Rand's Float64 or a constant.
func (p Policy) newBackOff(rnd func() float64) backoff.BackOff {
	p = p.normalized()
	b := &jitterBackOff{
		exp: backoff.ExponentialBackOff{
			InitialInterval:     p.Initial,
			RandomizationFactor: 0, // the ceilings only; jitterBackOff draws the waits
			Multiplier:          p.Multiplier,
			MaxInterval:         p.Max,
			MaxElapsedTime:      0, // checked against the jittered wait in NextBackOff
			Stop:                backoff.Stop,
			Clock:               backoff.SystemClock,
		},
		jitter:     p.Jitter,
		maxElapsed: p.MaxElapsed,
		rnd:        rnd,
	}
	b.Reset()
	if p.MaxAttempts > 0 {
		// WithMaxRetries counts waits; the first call needs none.
		return backoff.WithMaxRetries(b, uint64(p.MaxAttempts-1))
	}
	return b
}

// jitterBackOff draws jittered waits under the capped exponential ceilings of a
// backoff.ExponentialBackOff without randomisation, which also keeps the start time.
type jitterBackOff struct {
	exp        backoff.ExponentialBackOff
	jitter     Jitter
	maxElapsed time.Duration  // 0: no bound
	rnd        func() float64 // [0, 1)
	prev       time.Duration  // Decorrelated: the last wait drawn, Initial after Reset
}

// Reset restarts the ceilings, the decorrelated chain and the elapsed-time clock.
func (b *jitterBackOff) Reset() {
	b.exp.Reset()
	b.prev = b.exp.InitialInterval
}

// NextBackOff returns the next jittered wait, or backoff.Stop when it would end past
// MaxElapsed.
func (b *jitterBackOff) NextBackOff() time.Duration {
	var d time.Duration
	switch b.jitter {
	case None:
		d = b.exp.NextBackOff()
	case Equal:
		c := b.exp.NextBackOff()
		half := c / 2
		d = c - half + time.Duration(b.rnd()*float64(half))
	case Decorrelated:
		base, hi := float64(b.exp.InitialInterval), 3*float64(b.prev)
		d = b.exp.MaxInterval
		if v := base + b.rnd()*(hi-base); v < float64(d) {
			d = time.Duration(v) // compared as floats first: a Max near MaxInt64 must not overflow
		}
		b.prev = d
	default: // Full
		d = time.Duration(b.rnd() * float64(b.exp.NextBackOff()))
	}
	if b.maxElapsed > 0 && d > b.maxElapsed-b.exp.GetElapsedTime() { // no overflow for a huge d
		return backoff.Stop
	}
	return d
}

// deadlineBackOff stops instead of starting a wait that would not end before the
// deadline: the call after it would only meet an expired context.
type deadlineBackOff struct {
	backoff.BackOff
	deadline time.Time
	cut      bool // a wait was refused because of the deadline
}

func (b *deadlineBackOff) NextBackOff() time.Duration {
	d := b.BackOff.NextBackOff()
	if d != backoff.Stop && time.Until(b.deadline) <= d {
		b.cut = true
		return backoff.Stop
	}
	return d
}
