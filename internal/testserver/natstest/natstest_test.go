package natstest_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rotasafe/rotasafe/internal/testserver/natstest"
)

func TestStopStart(t *testing.T) {
	s := natstest.New(t)
	nc, err := nats.Connect(s.URL, nats.ReconnectWait(20*time.Millisecond), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("x")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip := func() {
		t.Helper()
		if err := nc.Publish("x", []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if m, err := sub.NextMsg(10 * time.Second); err != nil || string(m.Data) != "hi" {
			t.Fatalf("got %v, %v; want the message back", m, err)
		}
	}
	roundTrip()

	reconnected := nc.StatusChanged(nats.CONNECTED)
	s.Stop()
	s.Stop() // idempotent
	if err := nc.FlushTimeout(100 * time.Millisecond); err == nil {
		t.Fatal("flush to a stopped server: got nil error")
	}
	s.Start()
	select {
	case <-reconnected:
	case <-t.Context().Done():
		t.Fatal("the client did not reconnect")
	}
	roundTrip()
}

func TestWithConfig(t *testing.T) {
	s := natstest.New(t, natstest.WithConfig(`authorization { users = [ {user: "app", password: "app-password"} ] }`))
	if nc, err := nats.Connect(s.URL); err == nil {
		nc.Close()
		t.Fatal("connect without a user: got nil error")
	}
	nc, err := nats.Connect(s.URL, nats.UserInfo("app", "app-password"))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
}
