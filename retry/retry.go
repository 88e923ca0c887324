// Package retry runs an operation again after failures, with jittered exponential backoff
// (full, equal or decorrelated jitter), bounds on attempts and elapsed time, a classifier of
// retryable errors, and a context that can end the loop at any wait. It is a thin layer on
// github.com/cenkalti/backoff/v4: a [Policy] makes a [backoff.BackOff] and [Do] runs it in
// backoff's retry loop.
//
//	p := retry.Default()
//	p.Retryable = isTransient
//	err := retry.Do(ctx, p, func(ctx context.Context) error {
//		return ping(ctx)
//	})
//	if ex, ok := errors.AsType[*retry.ExhaustedError](err); ok {
//		log.Printf("database unreachable after %d attempts: %v", ex.Attempts, ex.Err)
//	}
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Do calls fn until it returns nil, then returns nil. Between calls it waits as the policy's
// [Policy.NewBackOff] says, calling p.OnRetry before each wait. fn receives ctx.
//
// Do stops and returns:
//   - fn's error as is when fn marks it with [Permanent] (the mark removed) or p.Retryable
//     reports false for it;
//   - an [*ExhaustedError] holding fn's last error when p.MaxAttempts or p.MaxElapsed runs
//     out;
//   - an [*ExhaustedError] that also matches ctx.Err() with [errors.Is] when ctx ends during
//     a wait or a call, or when the next wait would not end before ctx's deadline: Do then
//     returns at once with CtxErr set to [context.DeadlineExceeded] rather than sleep until
//     a deadline that leaves no time for another call;
//   - ctx.Err() without calling fn when ctx has already ended.
//
// The loop is backoff's (backoff.RetryNotifyWithData), with its Permanent marker.
func Do(ctx context.Context, p Policy, fn func(ctx context.Context) error) error {
	_, err := doValue(ctx, p, p.newBackOff(rand.Float64), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, fn(ctx)
	})
	return err
}

// DoValue is [Do] for a function that returns a value: it returns the value of the call that
// succeeded, or the zero T and Do's error.
func DoValue[T any](ctx context.Context, p Policy, fn func(ctx context.Context) (T, error)) (T, error) {
	return doValue(ctx, p, p.newBackOff(rand.Float64), fn)
}

// Permanent marks err so that [Do] returns it at once, without retrying. Do returns err
// itself, not the mark. Permanent(nil) is nil. It is [backoff.Permanent], so an error marked
// by either package stops either loop.
func Permanent(err error) error {
	return backoff.Permanent(err)
}

// doValue runs fn in backoff's loop with b, the policy's BackOff, bounded by ctx.
func doValue[T any](ctx context.Context, p Policy, b backoff.BackOff, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	var (
		start    = time.Now()
		attempts int
		last     error
		stopped  bool // fn's error was permanent or not retryable
	)
	op := func() (T, error) {
		attempts++
		v, err := fn(ctx)
		if err == nil {
			return v, nil
		}
		last = err
		if _, ok := errors.AsType[*backoff.PermanentError](err); ok {
			stopped = true
			return v, err
		}
		if p.Retryable != nil && !p.Retryable(err) {
			stopped = true
			return v, backoff.Permanent(err)
		}
		return v, err
	}
	var notify backoff.Notify
	if p.OnRetry != nil {
		notify = func(err error, wait time.Duration) { p.OnRetry(attempts, err, wait) }
	}
	var dl *deadlineBackOff
	if d, ok := ctx.Deadline(); ok {
		dl = &deadlineBackOff{BackOff: b, deadline: d}
		b = dl
	}
	v, err := backoff.RetryNotifyWithData(op, backoff.WithContext(b, ctx), notify)
	switch {
	case err == nil:
		return v, nil
	case stopped:
		return zero, err
	}
	ex := &ExhaustedError{Attempts: attempts, Elapsed: time.Since(start), Err: last}
	if cerr := ctx.Err(); cerr != nil {
		ex.CtxErr = cerr
		if cause := context.Cause(ctx); cause != nil && cause != cerr {
			ex.CtxErr = fmt.Errorf("%w: %w", cerr, cause)
		}
	} else if dl != nil && dl.cut {
		ex.CtxErr = context.DeadlineExceeded
	}
	return zero, ex
}
