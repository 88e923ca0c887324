package retry

import (
	"math"
	"strconv"
	"time"
)

// Jitter selects how a [Policy] randomises each wait. The modes are those of the AWS
// Architecture blog post "Exponential Backoff and Jitter". With base = [Policy.Initial],
// cap = [Policy.Max] and n the number of waits so far, the ceiling of the n-th wait is
// min(cap, base*Multiplier^n).
//
// The zero value is [Full], so a [Policy] that leaves Jitter unset never makes a fleet of
// clients retry in lockstep.
type Jitter int

const (
	// Full waits rand[0, ceiling). It spreads clients the most and is the default.
	Full Jitter = iota
	// Equal waits ceiling/2 + rand[0, ceiling/2): never less than half the ceiling.
	Equal
	// Decorrelated waits min(cap, rand[base, 3*previous wait]), starting from previous = base.
	// It ignores Multiplier: each wait grows from the last one drawn, not from n.
	Decorrelated
	// None waits exactly the ceiling: plain capped exponential backoff. Use it where one
	// client alone retries against a server, or in tests.
	None
)

// String returns the mode's name in lower case ("full", "equal", "decorrelated", "none").
func (j Jitter) String() string {
	switch j {
	case Full:
		return "full"
	case Equal:
		return "equal"
	case Decorrelated:
		return "decorrelated"
	case None:
		return "none"
	}
	return "jitter(" + strconv.Itoa(int(j)) + ")"
}

// Defaults that zero fields of a [Policy] take.
const (
	DefaultInitial    = 50 * time.Millisecond
	DefaultMax        = 2 * time.Second
	DefaultMultiplier = 2.0
	// DefaultMaxElapsed is the MaxElapsed of [Default]. A zero Policy has no elapsed bound.
	DefaultMaxElapsed = 30 * time.Second
)

// Policy describes a retry loop: how long to wait between calls, how the waits are
// randomised, when to give up, and which errors are worth another call. It is a plain value,
// passed by value; the zero Policy is usable and retries until its context ends.
//
// Zero and out-of-range fields take the documented defaults when the policy is used; the
// Policy itself is never changed.
type Policy struct {
	// Initial is the ceiling of the first wait (base in the formulas of [Jitter]). Zero or
	// negative means DefaultInitial (50ms). An Initial above Max is lowered to Max.
	Initial time.Duration

	// Max caps every wait (cap in the formulas of [Jitter]). Zero or negative means
	// DefaultMax (2s).
	Max time.Duration

	// Multiplier grows the ceiling after each wait. Zero (or NaN) means DefaultMultiplier
	// (2); values below 1 are treated as 1, a constant ceiling of Initial.
	Multiplier float64

	// MaxAttempts bounds the number of calls of the retried function, the first call
	// included: 1 means no retry at all. Zero or negative means no bound on the count.
	MaxAttempts int

	// MaxElapsed bounds the time from the first call: no call starts later than MaxElapsed
	// after it, and a wait that would end past that point is not begun. Zero or negative
	// means no bound but the context's; [Default] sets DefaultMaxElapsed (30s) so that a
	// default loop never runs forever on a context without a deadline.
	MaxElapsed time.Duration

	// Jitter selects how waits are randomised. The zero value is [Full]; values other than
	// the four constants are treated as Full.
	Jitter Jitter

	// Retryable, when set, classifies errors: [Do] stops at once and returns the error as is
	// when Retryable reports false. Nil means every error is retried except those marked
	// with [Permanent]. It is called on the goroutine that called Do; it is not used by
	// [Policy.NewBackOff].
	Retryable func(err error) bool

	// OnRetry, when set, is called by [Do] after each failed call that will be retried, before
	// the wait: attempt is the number of calls made so far (1 after the first), err is what
	// the call returned and wait is the time Do is about to sleep. It is not called for the
	// last failure, the one Do returns. Use it to log or count retries; it runs on the
	// goroutine that called Do and delays the next call by as long as it takes. It is not
	// used by [Policy.NewBackOff].
	OnRetry func(attempt int, err error, wait time.Duration)
}

// Default returns a general-purpose policy: waits from 50ms up to 2s with [Full] jitter, no
// bound on the number of attempts, and a MaxElapsed of 30s, so that a loop with it is
// bounded even when its context has no deadline. It is retry's general default; logins use
// login.DefaultPolicy, which starts from it with a shorter bound.
func Default() Policy {
	return Policy{
		Initial:    DefaultInitial,
		Max:        DefaultMax,
		Multiplier: DefaultMultiplier,
		MaxElapsed: DefaultMaxElapsed,
		Jitter:     Full,
	}
}

// normalized returns p with the defaults of zero and out-of-range fields applied.
func (p Policy) normalized() Policy {
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	if p.Initial <= 0 {
		p.Initial = DefaultInitial
	}
	p.Initial = min(p.Initial, p.Max)
	switch {
	case p.Multiplier == 0 || math.IsNaN(p.Multiplier):
		p.Multiplier = DefaultMultiplier
	case p.Multiplier < 1:
		p.Multiplier = 1
	}
	if p.MaxAttempts < 0 {
		p.MaxAttempts = 0
	}
	if p.MaxElapsed < 0 {
		p.MaxElapsed = 0
	}
	switch p.Jitter {
	case Full, Equal, Decorrelated, None:
	default:
		p.Jitter = Full
	}
	return p
}
