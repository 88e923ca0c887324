package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/login"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	forced := &amqp.Error{Code: amqp.ConnectionForced, Reason: "CONNECTION_FORCED - broker forced connection closure", Server: true}
	denied := &amqp.Error{Code: amqp.AccessRefused, Reason: "ACCESS_REFUSED - access to exchange 'x' refused", Server: true, Recover: true}
	for _, tc := range []struct {
		name         string
		err          error
		login, setup rotasafe.Class
	}{
		{"refused credentials", amqp.ErrCredentials, rotasafe.ClassAuth, rotasafe.ClassOther},
		{"no access to the vhost", amqp.ErrVhost, rotasafe.ClassOther, rotasafe.ClassOther},
		{"no shared SASL mechanism", amqp.ErrSASL, rotasafe.ClassOther, rotasafe.ClassOther},
		{"connection refused", refused, rotasafe.ClassTransient, rotasafe.ClassTransient},
		{"connection reset", syscall.ECONNRESET, rotasafe.ClassTransient, rotasafe.ClassTransient},
		{"timeout", timeout, rotasafe.ClassTransient, rotasafe.ClassTransient},
		{"320 CONNECTION_FORCED", forced, rotasafe.ClassTransient, rotasafe.ClassTransient},
		{"connection closed", amqp.ErrClosed, rotasafe.ClassTransient, rotasafe.ClassTransient},
		{"403 on a declaration", denied, rotasafe.ClassAuth, rotasafe.ClassOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := fmt.Errorf("wrapped: %w", tc.err)
			if got := login.ClassOf(classifyLogin(err)); got != tc.login {
				t.Errorf("classifyLogin: got %v, want %v", got, tc.login)
			}
			if got := login.ClassOf(classifySetup(err)); got != tc.setup {
				t.Errorf("classifySetup: got %v, want %v", got, tc.setup)
			}
			if !errors.Is(classifyLogin(err), tc.err) {
				t.Error("classifyLogin lost the cause")
			}
		})
	}
}

func TestParseBroker(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, secret string
		want         string // url and vhost, or the error
	}{
		{"defaults", `{"host":"mq","username":"u","password":"hunter2"}`, "amqp://mq:5672/ /"},
		{"tls and vhost", `{"host":"mq","username":"u","password":"hunter2","tls":true,"vhost":"prod"}`, "amqps://mq:5671/ prod"},
		{"port", `{"host":"mq","port":"5673","username":"u","password":"hunter2"}`, "amqp://mq:5673/ /"},
		{"tls not a bool", `{"host":"mq","username":"u","password":"hunter2","tls":"hunter2"}`, "version v1: field tls is not a bool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := parseBroker(rotasafe.Version{ID: "v1", SecretString: tc.secret})
			got := b.url() + " " + b.vhost
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIDSet(t *testing.T) {
	t.Parallel()
	s := newIDSet(2)
	s.add("a")
	s.add("b")
	s.add("a") // already there: does not push b out
	s.add("c") // pushes a out
	for id, want := range map[string]bool{"a": false, "b": true, "c": true, "": false} {
		if got := s.has(id); got != want {
			t.Errorf("has(%q): got %v, want %v", id, got, want)
		}
	}
}
