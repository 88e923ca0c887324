// Package noticetest checks a notice.Transport against the contract of notice.Transport on a
// real server, and holds the helpers the tests of the transports and of their users share:
// a subscriber that collects notices ([Listen]) and a wait until it is subscribed ([Ready]).
//
//	noticetest.Run(t, noticetest.Harness{New: newTransport, Raw: publishBytes})
package noticetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/notice"
)

// Harness makes transports of one kind, all on the same channel of the same server.
type Harness struct {
	// New returns a transport that logs to l.
	New func(tb testing.TB, l *slog.Logger) notice.Transport
	// Raw publishes b on the transport's channel as it is, as a forger would.
	Raw func(tb testing.TB, b []byte)
}

// Secret is a value the tests publish in garbage; it must never reach a log line or an error.
const Secret = "hunter2-notice-s3cr3t"

// wait bounds how long a test waits for a notice before it fails (a hang, not a speed check).
const wait = 30 * time.Second

var seq atomic.Int64

// Notice returns a valid notice of kind for a secret of its own.
func Notice(kind notice.Kind) notice.Notice {
	i := seq.Add(1)
	return notice.Notice{
		SecretARN: fmt.Sprintf("arn:aws:secretsmanager:us-east-1:123456789012:secret:noticetest-%d-AbCdEf", i),
		VersionID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		Kind:      kind,
		At:        time.Now().UTC().Truncate(time.Millisecond),
	}
}

// Inbox is a running Subscribe whose notices a test reads with Next.
type Inbox struct {
	ch     chan notice.Notice
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Subscribe's result, set before done closes
}

// Listen runs tr.Subscribe on a goroutine until the test ends (or Stop) and collects what it
// delivers.
func Listen(tb testing.TB, tr notice.Transport) *Inbox {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(tb.Context()))
	in := &Inbox{ch: make(chan notice.Notice, 1024), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(in.done)
		in.err = tr.Subscribe(ctx, func(n notice.Notice) { in.ch <- n })
	}()
	tb.Cleanup(func() { in.Stop() })
	return in
}

// Stop cancels the subscription, waits for Subscribe to return and returns its error.
func (in *Inbox) Stop() error {
	in.cancel()
	<-in.done
	return in.err
}

// Done is closed when Subscribe has returned.
func (in *Inbox) Done() <-chan struct{} { return in.done }

// Next returns the next notice, failing the test if none comes.
func (in *Inbox) Next(tb testing.TB) notice.Notice {
	tb.Helper()
	select {
	case n := <-in.ch:
		return n
	case <-in.done:
		tb.Fatalf("Subscribe returned: %v", in.err)
	case <-time.After(wait):
		tb.Fatal("no notice arrived")
	}
	return notice.Notice{}
}

// Delivers publishes a notice of kind through pub and fails tb unless the notice is the next
// one in; what names the notice in the failures ("after garbage").
func Delivers(tb testing.TB, what string, pub notice.Publisher, in *Inbox, kind notice.Kind) {
	tb.Helper()
	want := Notice(kind)
	if err := pub.Publish(tb.Context(), want); err != nil {
		tb.Fatalf("%s: publish: %v", what, err)
	}
	if got := in.Next(tb); got != want {
		tb.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// Ready publishes probes through pub until every inbox has one, then drains the probes, so
// that the notices published next reach every inbox.
func Ready(tb testing.TB, pub notice.Publisher, inboxes ...*Inbox) {
	tb.Helper()
	for _, in := range inboxes {
		deadline := time.Now().Add(wait)
		for got := false; !got; {
			if time.Now().After(deadline) {
				tb.Fatal("the subscriber never became ready")
			}
			if err := pub.Publish(tb.Context(), Notice(notice.Finished)); err != nil {
				tb.Fatalf("publish a probe: %v", err)
			}
			select {
			case <-in.ch:
				got = true
			case <-in.done:
				tb.Fatalf("Subscribe returned: %v", in.err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	// Probes still on their way end with the marker.
	marker := Notice(notice.Finished)
	if err := pub.Publish(tb.Context(), marker); err != nil {
		tb.Fatalf("publish the marker: %v", err)
	}
	for _, in := range inboxes {
		for in.Next(tb) != marker {
		}
	}
}

// Run checks the contract of notice.Transport: notices go round in order to every
// subscriber; wire forms that are not notices are dropped and logged without their content;
// an invalid notice is not published; Subscribe ends with its context and calls no handler
// after.
func Run(t *testing.T, h Harness) {
	t.Run("RoundTrip", func(t *testing.T) {
		var logs testserver.Buffer
		l := slog.New(slog.NewTextHandler(&logs, nil))
		pub, sub1, sub2 := h.New(t, l), h.New(t, l), h.New(t, l)
		in1, in2 := Listen(t, sub1), Listen(t, sub2)
		Ready(t, pub, in1, in2)
		sent := []notice.Notice{Notice(notice.PendingStored), Notice(notice.PasswordChanged), Notice(notice.Finished)}
		sent[1].At = time.Time{} // the time is optional
		for _, n := range sent {
			if err := pub.Publish(t.Context(), n); err != nil {
				t.Fatalf("Publish(%v): %v", n, err)
			}
		}
		for i, in := range []*Inbox{in1, in2} {
			for _, want := range sent {
				if got := in.Next(t); got != want {
					t.Fatalf("subscriber %d: got %v at %v, want %v at %v", i+1, got, got.At, want, want.At)
				}
			}
		}
	})

	t.Run("Garbage", func(t *testing.T) {
		var logs testserver.Buffer
		l := slog.New(slog.NewTextHandler(&logs, nil))
		pub, sub := h.New(t, l), h.New(t, l)
		in := Listen(t, sub)
		Ready(t, pub, in)
		for _, b := range []string{
			Secret,
			`{"password":"` + Secret + `"}`,
			`{"v":1,"kind":"password-changed","secret":"` + Secret + `","version":"v1"}`,
			`{"v":2,"kind":"finished","secret":"arn:a:b:c:d:e","version":"` + Secret + `"}`,
			"\x00\xff" + Secret,
		} {
			h.Raw(t, []byte(b))
		}
		Delivers(t, "after garbage (garbage must be dropped)", pub, in, notice.PasswordChanged)
		if err := in.Stop(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe after cancel: got %v, want context.Canceled", err)
		}
		if s := logs.String(); !strings.Contains(s, "not notices") {
			t.Errorf("garbage was not logged:\n%s", s)
		} else if strings.Contains(s, Secret) || strings.Contains(s, "hunter2") {
			t.Errorf("the log holds the garbage's content:\n%s", s)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		tr := h.New(t, slog.New(slog.DiscardHandler))
		n := Notice(notice.Finished)
		n.SecretARN = "prod/app/db"
		if err := tr.Publish(t.Context(), n); !errorsAsNotice(err) {
			t.Fatalf("Publish of a notice naming no ARN: got %v, want a *notice.Error", err)
		}
	})

	t.Run("NoSubscriber", func(t *testing.T) {
		tr := h.New(t, slog.New(slog.DiscardHandler))
		if err := tr.Publish(t.Context(), Notice(notice.Finished)); err != nil {
			t.Fatalf("Publish without subscribers: %v", err)
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		pub, sub := h.New(t, slog.New(slog.DiscardHandler)), h.New(t, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(t.Context())
		var after atomic.Bool
		got := make(chan struct{}, 1)
		done := make(chan error, 1)
		go func() {
			done <- sub.Subscribe(ctx, func(notice.Notice) {
				if after.Load() {
					t.Error("handler called after Subscribe returned")
				}
				select {
				case got <- struct{}{}:
				default:
				}
			})
		}()
		for seen := false; !seen; {
			if err := pub.Publish(t.Context(), Notice(notice.Finished)); err != nil {
				t.Fatal(err)
			}
			select {
			case <-got:
				seen = true
			case <-time.After(50 * time.Millisecond):
			}
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe after cancel: got %v, want context.Canceled", err)
		}
		after.Store(true)
		for range 3 {
			if err := pub.Publish(t.Context(), Notice(notice.Finished)); err != nil {
				t.Fatal(err)
			}
		}
		// Subscribe on a context that has ended returns at once.
		if err := sub.Subscribe(ctx, func(notice.Notice) { t.Error("handler called") }); !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe on an ended context: got %v, want context.Canceled", err)
		}
	})
}

func errorsAsNotice(err error) bool {
	_, ok := errors.AsType[*notice.Error](err)
	return ok
}

// Logs collects log lines for a test to search.
type Logs struct{ buf testserver.Buffer }

// NewLogs returns an empty collection.
func NewLogs() *Logs { return new(Logs) }

// Logger returns a logger writing text lines (debug level up) into the collection.
func (l *Logs) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&l.buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// String returns every line so far.
func (l *Logs) String() string { return l.buf.String() }

// WaitFor waits until a line holds s, failing the test if none does in time.
func (l *Logs) WaitFor(tb testing.TB, s string) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for !strings.Contains(l.String(), s) {
		if time.Now().After(deadline) {
			tb.Fatalf("no log line holds %q; the log:\n%s", s, l.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
