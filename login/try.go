package login

import (
	"context"
	"errors"

	"github.com/rotasafe/rotasafe"
)

// Try is one login with the credentials of v: nil when it worked; otherwise an error marked
// with Rejected or Transient (or Unusable). An unmarked error gives up at once: neither
// other credentials nor waiting will fix it (a database that does not exist, say).
//
// A Try must respect ctx, which carries the attempt's timeout, and must not put a secret
// value into its error.
type Try func(ctx context.Context, v rotasafe.Version) error

// mark is how a Try's error was classified.
type mark struct {
	class    rotasafe.Class
	unusable bool
	err      error
}

func (m *mark) Error() string { return m.err.Error() }
func (m *mark) Unwrap() error { return m.err }

// Rejected marks err as the service rejecting the credentials (rotasafe.ClassAuth): the
// walk reads the secret's other staging labels and tries them. Rejected(nil) is nil.
func Rejected(err error) error { return marked(err, rotasafe.ClassAuth, false) }

// Transient marks err as a failure that may pass by itself (rotasafe.ClassTransient): a
// refused or reset connection, a timeout, a server that is starting or full. The walk tries
// again after a jittered wait. Transient(nil) is nil.
func Transient(err error) error { return marked(err, rotasafe.ClassTransient, false) }

// Unusable marks err as a failure of the version itself, not of a login: its JSON is
// malformed, say. The walk skips v without counting a login and goes on to the next label;
// when v is the first version tried, the login gives up. Unusable(nil) is nil.
func Unusable(err error) error { return marked(err, rotasafe.ClassOther, true) }

// Mark marks err as class says, for a Try whose service's errors a classifier already sorts:
// Rejected for rotasafe.ClassAuth, Transient for rotasafe.ClassTransient, and err unmarked
// (the walk gives up) for any other class.
//
//	return login.Mark(err, pgclass.Classify(err))
func Mark(err error, class rotasafe.Class) error {
	switch class {
	case rotasafe.ClassAuth, rotasafe.ClassTransient:
		return marked(err, class, false)
	}
	return err
}

func marked(err error, class rotasafe.Class, unusable bool) error {
	if err == nil {
		return nil
	}
	return &mark{class: class, unusable: unusable, err: err}
}

// ClassOf says how a Try's error was marked: rotasafe.ClassAuth for Rejected,
// rotasafe.ClassTransient for Transient, and rotasafe.ClassOther for Unusable, an unmarked
// error or nil. The mark may be wrapped.
func ClassOf(err error) rotasafe.Class {
	if m, ok := errors.AsType[*mark](err); ok {
		return m.class
	}
	return rotasafe.ClassOther
}

// unmark returns the outcome of an attempt that failed with err: how err was marked, and
// err without its outermost mark (the driver's own error, as attempts record it).
func unmark(err error) outcome {
	m, ok := errors.AsType[*mark](err)
	if !ok {
		return outcome{err: err, class: rotasafe.ClassOther}
	}
	if err == error(m) {
		err = m.err
	}
	return outcome{err: err, class: m.class, unusable: m.unusable}
}
