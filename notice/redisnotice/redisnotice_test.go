package redisnotice_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe/internal/testserver/noticetest"
	"github.com/rotasafe/rotasafe/internal/testserver/redistest"
	"github.com/rotasafe/rotasafe/notice"
	"github.com/rotasafe/rotasafe/notice/redisnotice"
)

// client returns a client of s logged in as user, closed when the test ends.
func client(tb testing.TB, s *redistest.Server, user, password string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Username: user, Password: password, DisableIdentity: true})
	tb.Cleanup(func() { c.Close() })
	return c
}

func TestTransport(t *testing.T) {
	s := redistest.New(t)
	noticetest.Run(t, noticetest.Harness{
		New: func(tb testing.TB, l *slog.Logger) notice.Transport {
			return redisnotice.New(client(tb, s, s.AdminUser, s.AdminPassword), redisnotice.WithLogger(l))
		},
		Raw: func(tb testing.TB, b []byte) {
			if err := s.Admin(tb).Publish(tb.Context(), redisnotice.DefaultChannel, b).Err(); err != nil {
				tb.Fatal(err)
			}
		},
	})
}

// TestACL sets up the users the package doc recommends and checks that only the rotator may
// publish and only the application may subscribe.
func TestACL(t *testing.T) {
	s := redistest.New(t)
	admin := s.Admin(t)
	rotatorPW, appPW := redistest.Password(t), redistest.Password(t)
	for _, args := range [][]any{
		{"ACL", "SETUSER", "rotator-n", "on", ">" + rotatorPW, "resetchannels", "&rotasafe:*", "-@all", "+publish", "+ping", "+hello"},
		{"ACL", "SETUSER", "app-n", "on", ">" + appPW, "resetchannels", "&rotasafe:*", "-@all", "+subscribe", "+unsubscribe", "+ping", "+hello"},
		{"ACL", "SETUSER", "other-n", "on", ">" + appPW, "resetchannels", "&app:*", "+@all"},
	} {
		if err := admin.Do(t.Context(), args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	rotator := redisnotice.New(client(t, s, "rotator-n", rotatorPW))
	app := redisnotice.New(client(t, s, "app-n", appPW))

	in := noticetest.Listen(t, app)
	noticetest.Ready(t, rotator, in)
	noticetest.Delivers(t, "the rotator's notice", rotator, in, notice.PasswordChanged)

	err := app.Publish(t.Context(), noticetest.Notice(notice.PasswordChanged))
	if !redis.IsPermissionError(err) {
		t.Fatalf("the application publishes: got %v, want NOPERM", err)
	}
	if err := rotator.Subscribe(t.Context(), func(notice.Notice) {}); !redis.IsPermissionError(err) {
		t.Fatalf("the rotator subscribes: got %v, want NOPERM", err)
	}
	other := redisnotice.New(client(t, s, "other-n", appPW))
	if err := other.Publish(t.Context(), noticetest.Notice(notice.Finished)); !redis.IsPermissionError(err) {
		t.Fatalf("a user without the channel publishes: got %v, want NOPERM", err)
	}
	if err := other.Subscribe(t.Context(), func(notice.Notice) {}); !redis.IsPermissionError(err) || !strings.Contains(err.Error(), redisnotice.DefaultChannel) {
		t.Fatalf("a user without the channel subscribes: got %v, want NOPERM naming the channel", err)
	}
}

// TestReconnect kills the subscriber's connection three times: each time the subscription is
// restored on a new connection and notices flow again.
func TestReconnect(t *testing.T) {
	s := redistest.New(t)
	tr := redisnotice.New(client(t, s, s.AdminUser, s.AdminPassword), redisnotice.WithChannel("rotasafe:other"))
	in := noticetest.Listen(t, tr)
	noticetest.Ready(t, tr, in)
	for range 3 {
		if err := s.Admin(t).Do(t.Context(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
			t.Fatal(err)
		}
		noticetest.Ready(t, tr, in) // publishes until the restored subscription delivers
	}
	noticetest.Delivers(t, "after the reconnects", tr, in, notice.PendingStored)
}

// TestServerDown: with the server gone, Publish fails within its context, and a subscriber
// logs the loss and keeps trying to restore the subscription until it is cancelled.
func TestServerDown(t *testing.T) {
	s := redistest.New(t)
	logs := noticetest.NewLogs()
	tr := redisnotice.New(client(t, s, s.AdminUser, s.AdminPassword), redisnotice.WithLogger(logs.Logger()))
	in := noticetest.Listen(t, tr)
	noticetest.Ready(t, tr, in)
	s.Admin(t).Do(t.Context(), "SHUTDOWN", "NOSAVE") // the server exits; the reply is lost
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := tr.Publish(ctx, noticetest.Notice(notice.Finished)); err == nil {
		t.Fatal("Publish to a stopped server: got nil error")
	}
	logs.WaitFor(t, "subscription lost")
	select {
	case <-in.Done():
		t.Fatalf("Subscribe returned while the server was down")
	default:
	}
	if err := in.Stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe after cancel: got %v, want context.Canceled", err)
	}
}

func TestOptions(t *testing.T) {
	for name, f := range map[string]func(){
		"nil client":    func() { redisnotice.New(nil) },
		"empty channel": func() { redisnotice.New(redis.NewClient(&redis.Options{}), redisnotice.WithChannel("")) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "redisnotice: ") {
					t.Fatalf("got panic %v, want one naming the package", r)
				}
			}()
			f()
		})
	}
}
