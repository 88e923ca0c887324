package sqlconn_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// The MySQL connector ends a login's handshake at its context's end through the socket's
// deadline instead of go-sql-driver's watcher goroutine (mysql_handshake.go). These tests
// check what that must keep: a silent server is left at the deadline (TestMySQLErrorsMariaDB,
// "silent server, attempt deadline") and at a cancel, and a connection that logged in is not
// ended later by the context it logged in with.

// TestMySQLHandshakeCancel: cancelling the context of a login that waits on a silent server
// ends it with context.Canceled.
func TestMySQLHandshakeCancel(t *testing.T) {
	t.Parallel()
	accepted := make(chan struct{}, 1)
	addr := myFakeServer(t, func(c net.Conn) {
		accepted <- struct{}{}
		io.Copy(io.Discard, c)
	})
	dc, err := (sqlconn.MySQL{}).Connector(myAt(rotasafe.DBSecret{Engine: "mysql", Username: "app", Password: "pw-not-a-secret"}, addr), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		conn, err := dc.Connect(ctx)
		if err == nil {
			conn.Close()
		}
		done <- err
	}()
	<-accepted
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute): // a guard against a hang, not a measure
		t.Fatal("the login did not end a minute after its context was cancelled")
	}
}

// TestMySQLHandshakeLeavesConnection: once logged in, a connection outlives the end of the
// context it logged in with, whether that context is cancelled or passes its deadline.
func TestMySQLHandshakeLeavesConnection(t *testing.T) {
	t.Parallel()
	g := &guardServer{setting: "0"}
	addr := myFakeServer(t, g.serve)
	dc, err := (sqlconn.MySQL{}).Connector(myAt(rotasafe.DBSecret{Engine: "mysql", Username: "app", Password: "pw-not-a-secret"}, addr), nil)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(t *testing.T, conn driver.Conn) {
		t.Helper()
		if _, err := conn.(driver.ExecerContext).ExecContext(context.Background(), "DO 1", nil); err != nil {
			t.Fatalf("a statement after the login's context ended: %v", err)
		}
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		conn, err := dc.Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cancel()
		exec(t, conn)
	})
	t.Run("deadline passed", func(t *testing.T) {
		// The deadline must leave the login time to finish: double it until it does, then
		// wait past it.
		for limit := 200 * time.Millisecond; ; limit *= 2 {
			ctx, cancel := context.WithTimeout(t.Context(), limit)
			conn, err := dc.Connect(ctx)
			if errors.Is(err, context.DeadlineExceeded) && limit < time.Minute {
				cancel()
				continue
			}
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			<-ctx.Done()
			cancel()
			exec(t, conn)
			conn.Close()
			return
		}
	})
}
