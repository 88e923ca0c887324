package login_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/retry"
)

// TestInvalidOptionsPanic: an invalid option is a programming error; New panics with the
// client's name and the option.
func TestInvalidOptionsPanic(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		opt  login.Option
		want string
	}{
		{"classifier", login.WithRetry(retry.Policy{Retryable: func(error) bool { return true }}), "queueconn: WithRetry:"},
		{"OnRetry", login.WithRetry(retry.Policy{OnRetry: func(int, error, time.Duration) {}}), "queueconn: WithRetry:"},
		{"negative timeout", login.WithAttemptTimeout(-time.Second), "queueconn: WithAttemptTimeout(-1s):"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if p := recover(); p == nil || !strings.HasPrefix(fmt.Sprint(p), tt.want) {
					t.Errorf("got panic %v, want one starting %q", p, tt.want)
				}
			}()
			login.New(e.c, id, login.WithClient("queueconn"), tt.opt)
		})
	}
	for name, f := range map[string]func(){
		"nil source":   func() { login.New(nil, id) },
		"no secret ID": func() { login.New(e.c, "") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if p := recover(); p == nil || !strings.HasPrefix(fmt.Sprint(p), "login: ") {
					t.Errorf("got panic %v, want one starting %q", p, "login: ")
				}
			}()
			f()
		})
	}
}

func TestClassOf(t *testing.T) {
	cause := errors.New("cause")
	tests := []struct {
		name string
		err  error
		want rotasafe.Class
	}{
		{"rejected", login.Rejected(cause), rotasafe.ClassAuth},
		{"transient, wrapped", fmt.Errorf("dial: %w", login.Transient(cause)), rotasafe.ClassTransient},
		{"unusable", login.Unusable(cause), rotasafe.ClassOther},
		{"unmarked", cause, rotasafe.ClassOther},
		{"nil", nil, rotasafe.ClassOther},
		{"Mark auth", login.Mark(cause, rotasafe.ClassAuth), rotasafe.ClassAuth},
		{"Mark transient", login.Mark(cause, rotasafe.ClassTransient), rotasafe.ClassTransient},
		{"Mark other", login.Mark(cause, rotasafe.ClassOther), rotasafe.ClassOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := login.ClassOf(tt.err); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if tt.err != nil && (!errors.Is(tt.err, cause) || !strings.HasSuffix(tt.err.Error(), "cause")) {
				t.Errorf("%v: the mark hides its cause", tt.err)
			}
		})
	}
	if login.Rejected(nil) != nil || login.Transient(nil) != nil || login.Unusable(nil) != nil || login.Mark(nil, rotasafe.ClassAuth) != nil {
		t.Error("a mark of nil is not nil")
	}
}

// TestAttemptsHoldTheCause: ConnectError's attempts and cause are the Try's errors without
// their marks, and the client's name comes from WithClient.
func TestAttemptsHoldTheCause(t *testing.T) {
	e := newEnv(t)
	w := e.walkerOn(e.c, login.WithClient("queueconn"), login.WithRetry(retry.Policy{MaxAttempts: 1}))
	e.setPassword("a password no version holds")
	_, err := w.Login(t.Context(), e.try)
	ce, ok := errors.AsType[*rotasafe.ConnectError](err)
	if !ok || ce.Client != "queueconn" || len(ce.Attempts) == 0 || ce.Attempts[0].Err != errRejected || ce.Err != errRejected {
		t.Fatalf("got %#v, want a ConnectError of queueconn whose attempts and cause are the rejection itself", err)
	}
}

// TestLogger: the log goes to WithLogger's logger, and nowhere with WithLogger(nil).
func TestLogger(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	w := e.walker(login.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	e.mustLogin(w, "pw-1")
	if !strings.Contains(buf.String(), "test: using version") {
		t.Errorf("log %q, want the version in use", buf.String())
	}
	w = e.walker(login.WithLogger(nil))
	var def bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&def, nil)))
	defer slog.SetDefault(old)
	e.mustLogin(w, "pw-1")
	if def.Len() != 0 {
		t.Errorf("WithLogger(nil) logged to slog.Default(): %q", def.String())
	}
}

// TestNoDeadlineIsBounded: a Login whose context has no deadline and whose policy has no
// bound ends after DefaultMaxElapsed, not never.
func TestNoDeadlineIsBounded(t *testing.T) {
	if p := login.DefaultPolicy(); p.MaxElapsed != login.DefaultMaxElapsed {
		t.Errorf("DefaultPolicy().MaxElapsed = %v, want DefaultMaxElapsed", p.MaxElapsed)
	}
	e := newEnv(t)
	w := e.walker(login.WithRetry(retry.Policy{Initial: time.Millisecond, Max: time.Millisecond}))
	_, err := w.Login(context.Background(), func(ctx context.Context, _ rotasafe.Version) error {
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("the attempt has no deadline")
		}
		return nil
	})
	if err != nil {
		t.Errorf("Login: %v", err)
	}
}

// TestNoDeadlineBoundAfterFirstAttempt: with an attempt timeout and a policy's MaxElapsed,
// a Login whose context has no deadline makes its bounding context only when it goes past
// the first attempt, and still ends at MaxElapsed plus the attempt timeout, saying why.
func TestNoDeadlineBoundAfterFirstAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := fixedSource{rotasafe.Version{ID: "v1", Stages: []string{rotasafe.StageCurrent}}}
		const maxElapsed, timeout = time.Second, time.Second
		w := login.New(src, id, login.WithLogger(nil), login.WithAttemptTimeout(timeout),
			login.WithRetry(retry.Policy{Initial: time.Millisecond, Max: time.Millisecond, MaxElapsed: maxElapsed}))
		start := time.Now()
		_, err := w.Login(context.Background(), func(ctx context.Context, _ rotasafe.Version) error {
			<-ctx.Done() // a server that never answers
			return login.Transient(ctx.Err())
		})
		if got, want := time.Since(start), maxElapsed+timeout; got != want {
			t.Errorf("Login ended after %v, want %v", got, want)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no deadline, and the retry policy's bound of 1s ran out") {
			t.Errorf("got %v, want the bound's deadline and cause", err)
		}
	})
}
