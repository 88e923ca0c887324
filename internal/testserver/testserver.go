// Package testserver is what the throw-away servers of the tests (pgtest, mysqltest, rabbittest,
// redistest, natstest, and the ones to come) share: finding a binary, skipping a test that
// lacks one (or failing it under ROTASAFE_REQUIRE_INTEGRATION=1), a free port, a directory on
// a RAM disk, a server process that is always reaped, and a watchdog that cleans up after a
// test binary that dies without Close.
//
// A new server package is a Start that returns an io.Closer and a New on top of it
// (New(tb) = testserver.New(tb, Start)); rabbittest is the smallest whole one. A server that
// a test stops and starts again embeds Lifecycle and says only how its process comes up and
// goes down; its tests run TestServer, which checks what every such package promises.
//
// A test calls rabbittest.New(t): without rabbitmq-server it is skipped with the message of
// ErrNotInstalled, and the server is closed when the test ends.
package testserver

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
)

// EnvRequireIntegration names the environment variable that, set to 1, turns every skip for
// a missing binary into a failure (.ci/run sets it).
const EnvRequireIntegration = "ROTASAFE_REQUIRE_INTEGRATION"

// ErrNotInstalled is what every error of NotInstalled matches with errors.Is.
var ErrNotInstalled = errors.New("testserver: not installed")

// NotInstalled returns an error that says what is missing and how to install it (msg, as it
// is) and matches ErrNotInstalled. Keep it in a package variable so that callers can match it
// too: var ErrBinariesNotFound = testserver.NotInstalled("pgtest: ... apt-get install postgresql").
func NotInstalled(msg string) error { return &notInstalled{msg} }

type notInstalled struct{ msg string }

func (e *notInstalled) Error() string        { return e.msg }
func (e *notInstalled) Is(target error) bool { return target == ErrNotInstalled }

// Configure returns the configuration opts set on a zero C, in order; nil options are
// skipped. It is the start of every server package's New or Start: cfg := Configure(opts).
func Configure[C any, O ~func(*C)](opts []O) C {
	var c C
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// Required reports whether ROTASAFE_REQUIRE_INTEGRATION=1: a missing binary fails a test
// instead of skipping it.
func Required() bool { return os.Getenv(EnvRequireIntegration) == "1" }

// SkipOrFail ends tb for err, a server's start error: a skip with err's message (which says
// what to install) when err matches ErrNotInstalled and integration is not Required, else a
// failure. A nil err does nothing.
func SkipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrNotInstalled) && !Required() {
		tb.Skip(err)
	}
	tb.Fatal(err)
}

// New starts a server with start for a test or benchmark and closes it when the test ends
// (tb.Cleanup; a Close error fails the test). A start error ends the test as SkipOrFail
// says. It is the New of every server package.
func New[S io.Closer](tb testing.TB, start func(context.Context) (S, error)) S {
	tb.Helper()
	s, err := start(tb.Context())
	SkipOrFail(tb, err)
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// Shared is one server for every test of a package that does not stop it, started on first
// use; each test makes its own users on it. Close it from TestMain after m.Run (the watchdog
// of pgtest and mysqltest cleans up if the binary dies first).
//
//	var shared = testserver.Shared[*pgtest.Cluster]{Start: func(ctx context.Context) (*pgtest.Cluster, error) {
//		return pgtest.Start(ctx, pgtest.WithMaxConnections(300))
//	}}
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		shared.Close()
//		os.Exit(code)
//	}
type Shared[S io.Closer] struct {
	Start func(context.Context) (S, error) // called once, on a context that never ends

	once    sync.Once
	s       S
	err     error
	started bool // s was started (and must be closed)
}

// Get returns the server, starting it on first use; a start error ends tb as SkipOrFail says,
// on this call and every later one.
func (sh *Shared[S]) Get(tb testing.TB) S {
	tb.Helper()
	sh.once.Do(func() {
		sh.s, sh.err = sh.Start(context.Background())
		sh.started = sh.err == nil
	})
	SkipOrFail(tb, sh.err)
	return sh.s
}

// Close closes the server if one was started.
func (sh *Shared[S]) Close() error {
	if !sh.started {
		return nil
	}
	return sh.s.Close()
}
