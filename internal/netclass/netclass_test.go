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

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want rotasafe.Class
	}{
		{"canceled", fmt.Errorf("dial: %w", context.Canceled), rotasafe.ClassOther},
		{"deadline", context.DeadlineExceeded, rotasafe.ClassTransient},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, rotasafe.ClassTransient},
		{"eof", fmt.Errorf("handshake: %w", io.ErrUnexpectedEOF), rotasafe.ClassTransient},
		{"dns temporary", &net.DNSError{IsTemporary: true}, rotasafe.ClassTransient},
		{"dns not found", &net.DNSError{IsNotFound: true}, rotasafe.ClassOther},
		{"other", errors.New("boom"), rotasafe.ClassOther},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
