package retry

import (
	"strconv"
	"time"
)

// ExhaustedError is the error [Do] returns when it gives up on an error worth retrying: the
// policy's MaxAttempts or MaxElapsed ran out, or the context ended (or its deadline left no
// time for another call). It matches its last error and, when set, CtxErr with [errors.Is]
// and [errors.As]:
//
//	errors.Is(err, context.DeadlineExceeded) // the caller's deadline ended the loop
//	errors.Is(err, syscall.ECONNREFUSED)    // the last attempt's cause
//	ex, ok := errors.AsType[*retry.ExhaustedError](err) // attempts and time spent
type ExhaustedError struct {
	// Attempts is the number of calls made.
	Attempts int
	// Elapsed is the time from the first call to giving up.
	Elapsed time.Duration
	// Err is the error the last call returned. It is never nil.
	Err error
	// CtxErr is nil when the policy's own bounds ran out. Otherwise it says why the context
	// ended the loop: ctx.Err() (wrapping context.Cause(ctx) too when that differs), or
	// context.DeadlineExceeded when Do stopped before a wait that would have ended past the
	// context's deadline.
	CtxErr error
}

// Error reads "retry: gave up after 3 attempts in 1.2s: <last error>", or with the context's
// reason: "retry: context deadline exceeded after 3 attempts in 1.2s: <last error>".
func (e *ExhaustedError) Error() string {
	b := make([]byte, 0, 64)
	b = append(b, "retry: "...)
	if e.CtxErr != nil {
		b = append(b, e.CtxErr.Error()...)
	} else {
		b = append(b, "gave up"...)
	}
	b = append(b, " after "...)
	b = strconv.AppendInt(b, int64(e.Attempts), 10)
	if e.Attempts == 1 {
		b = append(b, " attempt in "...)
	} else {
		b = append(b, " attempts in "...)
	}
	b = append(b, e.Elapsed.Round(time.Millisecond).String()...)
	if e.Err != nil {
		b = append(b, ": "...)
		b = append(b, e.Err.Error()...)
	}
	return string(b)
}

// Unwrap returns the last error and, when set, CtxErr.
func (e *ExhaustedError) Unwrap() []error {
	if e.CtxErr == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.CtxErr}
}
