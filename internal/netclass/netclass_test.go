package netclass

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/rotasafe/rotasafe"
)

// TestClassify: each error sorts into its class, wrapped or not.
func TestClassify(t *testing.T) {
	transient := []error{
		context.DeadlineExceeded,
		&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED},
		fmt.Errorf("handshake: %w", io.ErrUnexpectedEOF),
		&net.DNSError{IsTemporary: true},
	}
	other := []error{
		fmt.Errorf("dial: %w", context.Canceled),
		&net.DNSError{IsNotFound: true},
		errors.New("boom"),
	}
	for want, errs := range map[rotasafe.Class][]error{rotasafe.ClassTransient: transient, rotasafe.ClassOther: other} {
		for _, err := range errs {
			if got := Classify(err); got != want {
				t.Errorf("Classify(%v) = %v, want %v", err, got, want)
			}
		}
	}
}
