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
)

// EnvRequireIntegration names the environment variable that, set to 1, turns the skip New
// does without nats-server into a failure.
const EnvRequireIntegration = "ROTASAFE_REQUIRE_INTEGRATION"

// Server is a throw-away nats-server on a random 127.0.0.1 port.
type Server struct {
	URL  string // nats://127.0.0.1:port
	Addr string // 127.0.0.1:port
	Port int

	tb   testing.TB
	bin  string
	args []string

	mu   sync.Mutex // guards proc
	proc *process   // nil while stopped
}

type process struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error // receives Wait's result once, then is closed
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
	var cfg config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	bin, err := lookPath()
	if err != nil {
		const msg = "nats-server not found; install it (Debian: apt-get install nats-server)"
		if os.Getenv(EnvRequireIntegration) == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	var conf string
	if cfg.conf != "" {
		conf = filepath.Join(tb.TempDir(), "nats.conf")
		if err := os.WriteFile(conf, []byte(cfg.conf), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	var lastErr error
	for range 3 { // the free port may be taken between finding and binding it
		port, err := freePort()
		if err != nil {
			tb.Fatal(err)
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, tb: tb, bin: bin}
		s.URL = "nats://" + s.Addr
		s.args = []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}
		if conf != "" {
			s.args = append(s.args, "-c", conf)
		}
		if lastErr = s.start(); lastErr == nil {
			tb.Cleanup(s.Stop)
			return s
		}
	}
	tb.Fatalf("start nats-server: %v", lastErr)
	return nil
}

// lookPath finds nats-server on PATH, or where Debian installs it.
func lookPath() (string, error) {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	const debian = "/usr/sbin/nats-server"
	if _, err := os.Stat(debian); err != nil {
		return "", err
	}
	return debian, nil
}

// Stop stops the server (its clients see the connection drop). It does nothing when the
// server is stopped already.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.done
}

// Start starts a stopped server again on the same port and configuration. A failure fails
// the test.
func (s *Server) Start() {
	s.tb.Helper()
	var err error
	for range 50 { // the port may linger a moment after Stop
		if err = s.start(); err == nil || !strings.Contains(err.Error(), "address already in use") {
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
	p := &process{cmd: exec.Command(s.bin, s.args...), out: new(bytes.Buffer), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		p.done <- p.cmd.Wait()
		close(exited)
		close(p.done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := greets(s.Addr)
		if err == nil {
			s.proc = p
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("nats-server exited: %s", p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("nats-server did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// greets reports whether a NATS server at addr sends its INFO line.
func greets(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
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

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
