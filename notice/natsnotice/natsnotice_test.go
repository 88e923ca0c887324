package natsnotice_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rotasafe/rotasafe/internal/testserver/natstest"
	"github.com/rotasafe/rotasafe/internal/testserver/noticetest"
	"github.com/rotasafe/rotasafe/notice"
	"github.com/rotasafe/rotasafe/notice/natsnotice"
)

// connect returns a connection to s that reconnects through any outage, closed when the test
// ends.
func connect(tb testing.TB, s *natstest.Server, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(20 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(s.URL, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

func TestTransport(t *testing.T) {
	s := natstest.New(t)
	raw := connect(t, s)
	noticetest.Run(t, noticetest.Harness{
		New: func(tb testing.TB, l *slog.Logger) notice.Transport {
			return natsnotice.New(connect(tb, s), natsnotice.WithLogger(l))
		},
		Raw: func(tb testing.TB, b []byte) {
			if err := raw.Publish(natsnotice.DefaultSubject, b); err != nil {
				tb.Fatal(err)
			}
			if err := raw.Flush(); err != nil {
				tb.Fatal(err)
			}
		},
	})
}

// permissions is the authorization block the package doc recommends: the rotator publishes
// notices, the applications subscribe to them.
const permissions = `authorization {
  users = [
    {user: "rotator", password: "rotator-pw", permissions: {publish: {allow: ["rotasafe.notices"]}, subscribe: {deny: [">"]}}}
    {user: "app", password: "app-pw", permissions: {publish: {deny: ["rotasafe.>"]}, subscribe: {allow: ["rotasafe.notices", "_INBOX.>"]}}}
  ]
}`

func TestPermissions(t *testing.T) {
	s := natstest.New(t, natstest.WithConfig(permissions))
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	rotator := natsnotice.New(connect(t, s, nats.UserInfo("rotator", "rotator-pw"), quiet))
	app := natsnotice.New(connect(t, s, nats.UserInfo("app", "app-pw"), quiet))

	in := noticetest.Listen(t, app)
	noticetest.Ready(t, rotator, in)
	noticetest.Delivers(t, "the rotator's notice", rotator, in, notice.PasswordChanged)

	if err := app.Publish(t.Context(), noticetest.Notice(notice.PasswordChanged)); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Fatalf("the application publishes: got %v, want a permissions violation", err)
	}
	if err := rotator.Subscribe(t.Context(), func(notice.Notice) {}); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Fatalf("the rotator subscribes: got %v, want a permissions violation", err)
	}
	// The denied publish reached no one: the next notice is the rotator's.
	noticetest.Delivers(t, "after the denied publish", rotator, in, notice.Finished)
}

// TestOutage stops the server and starts it again: Publish fails while it is down, the
// subscriber stays, and notices flow again once it is back.
func TestOutage(t *testing.T) {
	s := natstest.New(t)
	pub := natsnotice.New(connect(t, s))
	sub := natsnotice.New(connect(t, s))
	in := noticetest.Listen(t, sub)
	noticetest.Ready(t, pub, in)
	for i := range 2 {
		s.Stop()
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		err := pub.Publish(ctx, noticetest.Notice(notice.Finished))
		cancel()
		if err == nil {
			t.Fatalf("outage %d: Publish to a stopped server: got nil error", i+1)
		}
		s.Start()
		noticetest.Ready(t, pub, in)
	}
	select {
	case <-in.Done():
		t.Fatal("Subscribe returned during an outage")
	default:
	}
}

// TestClosed: a connection closed for good ends Subscribe with an error.
func TestClosed(t *testing.T) {
	s := natstest.New(t)
	nc := connect(t, s)
	in := noticetest.Listen(t, natsnotice.New(nc))
	noticetest.Ready(t, natsnotice.New(connect(t, s)), in)
	nc.Close()
	<-in.Done()
	if err := in.Stop(); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Fatalf("Subscribe on a closed connection: got %v, want nats.ErrConnectionClosed", err)
	}
}

func TestOptions(t *testing.T) {
	s := natstest.New(t)
	nc := connect(t, s)
	for _, subject := range []string{"", "a.*", "a.>", "a b", ".a", "a.", "a..b"} {
		t.Run(fmt.Sprintf("%q", subject), func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "WithSubject") {
					t.Fatalf("got panic %v, want one naming WithSubject", r)
				}
			}()
			natsnotice.New(nc, natsnotice.WithSubject(subject))
		})
	}
	t.Run("nil", func(t *testing.T) {
		defer func() {
			if r := recover(); r == nil {
				t.Fatal("New(nil) did not panic")
			}
		}()
		natsnotice.New(nil)
	})
}
