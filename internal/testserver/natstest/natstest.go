// Package natstest starts throw-away nats-server processes for tests, the NATS counterpart
// of internal/testserver/redistest: each on a random free 127.0.0.1 port, stopped when the test ends.
// A test can stop the server and start it again on the same port, to see what its clients
// do through an outage.
//
//	s := natstest.New(t)                 // or natstest.New(t, natstest.WithConfig(authBlock))
//	nc, err := nats.Connect(s.URL)
package natstest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe/internal/testserver"
)

// ErrNotInstalled says that nats-server was not found, and how to install it.
var ErrNotInstalled = testserver.NotInstalled("natstest: nats-server not found; install it (Debian: apt-get install nats-server)")

// Server is a throw-away nats-server on a random 127.0.0.1 port.
type Server struct {
	URL  string // nats://127.0.0.1:port
	Addr string // 127.0.0.1:port
	Port int

	tb   testing.TB
	bin  string
	args []string

	mu   sync.Mutex          // guards proc
	proc *testserver.Process // nil while stopped
}

// Option configures New.
type Option func(*config)

type config struct{ conf string }

// WithConfig starts the server with conf, a nats-server configuration (an authorization
// block with users and subject permissions, for example). The listen address and port are
// New's, whatever conf says.
func WithConfig(conf string) Option { return func(c *config) { c.conf = conf } }

// New starts nats-server for a test and stops it when the test ends (tb.Cleanup). Without
// the binary it skips the test with a message that says what to install, or fails it when
// ROTASAFE_REQUIRE_INTEGRATION=1. Any other error fails the test.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	cfg := testserver.Configure(opts)
	bin := testserver.FindBinary([]string{"/usr/sbin"}, "nats-server")
	if bin == "" {
		testserver.SkipOrFail(tb, ErrNotInstalled)
	}
	var conf string
	if cfg.conf != "" {
		conf = filepath.Join(tb.TempDir(), "nats.conf")
		if err := os.WriteFile(conf, []byte(cfg.conf), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	s := &Server{tb: tb, bin: bin}
	port, err := testserver.OnFreePort(func(port int) error {
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.args = []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}
		if conf != "" {
			s.args = append(s.args, "-c", conf)
		}
		return s.start()
	})
	if err != nil {
		tb.Fatalf("natstest: start nats-server: %v", err)
	}
	s.Port, s.URL = port, "nats://"+s.Addr
	tb.Cleanup(s.Stop)
	return s
}

// Stop stops the server (its clients see the connection drop). It does nothing when the
// server is stopped already.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.Kill()
	}
}

// Start starts a stopped server again on the same port and configuration. A failure fails
// the test.
func (s *Server) Start() {
	s.tb.Helper()
	var err error
	for range 50 { // the port may linger a moment after Stop
		if err = s.start(); err == nil || !errors.Is(err, testserver.ErrPortTaken) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.tb.Fatalf("restart nats-server: %v", err)
	}
}

// start runs the server process and waits until it greets a client.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("nats-server is running already")
	}
	var out bytes.Buffer
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := testserver.StartProcess(cmd, "")
	if err != nil {
		return err
	}
	if err := testserver.WaitReady(context.Background(), p, s.greets); err != nil {
		p.Kill()
		return testserver.MarkPortTaken(fmt.Errorf("nats-server: %w: %s", err, testserver.Tail(out.Bytes())), out.String())
	}
	s.proc = p
	return nil
}

// greets reports whether a NATS server at addr sends its INFO line.
func (s *Server) greets(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "INFO ") {
		return errors.New("no INFO line")
	}
	return nil
}
