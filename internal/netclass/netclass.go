// Package netclass says what kind of failure a login met when the error is not the
// service's answer but the network's or the context's, for the engines' classifiers
// (internal/pgclass, sqlconn's MySQL Engine), which all sort such errors the same way.
//
//	if class := netclass.Classify(err); class == rotasafe.ClassTransient { /* retry */ }
package netclass

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/rotasafe/rotasafe"
)

// Classify sorts errors that are not the server's: a cancelled context is ClassOther; a
// deadline, a timeout, a refused, reset or aborted connection, an unreachable host or
// network, a temporary DNS failure and an EOF are ClassTransient; anything else is
// ClassOther.
func Classify(err error) rotasafe.Class {
	if errors.Is(err, context.Canceled) {
		return rotasafe.ClassOther
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return rotasafe.ClassTransient
	}
	for _, target := range []error{
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT,
		io.EOF, io.ErrUnexpectedEOF,
	} {
		if errors.Is(err, target) {
			return rotasafe.ClassTransient
		}
	}
	if dnsErr, ok := errors.AsType[*net.DNSError](err); ok {
		if dnsErr.IsTimeout || dnsErr.IsTemporary {
			return rotasafe.ClassTransient
		}
		return rotasafe.ClassOther
	}
	if netErr, ok := errors.AsType[net.Error](err); ok && netErr.Timeout() {
		return rotasafe.ClassTransient
	}
	return rotasafe.ClassOther
}
