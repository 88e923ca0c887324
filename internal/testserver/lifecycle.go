package testserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
)

// Lifecycle is the Stop, Start, Restart and Close of a server a package starts itself, so that
// each server package says only how its process comes up and goes down. Embed it in the
// server's type and fill it in before the first Start:
//
//	c.Lifecycle = testserver.Lifecycle{Prefix: "pgtest", ErrClosed: ErrClosed, Dir: dir,
//		Up: c.pgCtlStart, Down: c.pgCtlStopFast, Kill: c.pgCtlStopImmediate}
//	c.port, err = testserver.OnFreePort(func(port int) error { c.port = port; return c.Start(ctx) })
//
// A server that is not the package's own (one named by a URL) sets External instead: Stop,
// Start and Restart then return it and Close does nothing. Its methods are safe for concurrent
// use; mu serializes them, so Up, Down and Kill run one at a time.
type Lifecycle struct {
	Prefix    string                          // the server package, in errors: "pgtest"
	External  error                           // non-nil: not ours; returned by Stop, Start and Restart
	ErrClosed error                           // returned by Stop, Start and Restart after Close
	Dir       string                          // the server's directory, removed by Close
	Dog       *Watchdog                       // released by Close, after Kill and the removal of Dir
	Up        func(ctx context.Context) error // starts the stopped server; returns once it serves
	Down      func(ctx context.Context) error // stops the running server gracefully; on error it counts as running
	Kill      func() error                    // stops the server at once for Close, called even when it seems stopped (a failed Up may leave a process); its error counts only when it was running

	mu       sync.Mutex // guards running, closed, closeErr
	running  bool
	closed   bool
	closeErr error
}

// Stop stops the server: open connections are closed and new ones refused until Start.
// Stopping a stopped server does nothing.
func (l *Lifecycle) Stop(ctx context.Context) error { return l.turn(ctx, false) }

// Start starts a stopped server again on the same port and returns when it serves. Starting a
// running server does nothing.
func (l *Lifecycle) Start(ctx context.Context) error { return l.turn(ctx, true) }

// turn brings an owned, open server to running (Up) or stopped (Down), under mu; a server
// already there is left alone, and one whose Up or Down fails keeps its state.
func (l *Lifecycle) turn(ctx context.Context, running bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.ownedOpen(); err != nil || l.running == running {
		return err
	}
	step := l.Down
	if running {
		step = l.Up
	}
	if err := step(ctx); err != nil {
		return err
	}
	l.running = running
	return nil
}

// Restart stops the server and starts it again on the same port.
func (l *Lifecycle) Restart(ctx context.Context) error {
	if err := l.Stop(ctx); err != nil {
		return err
	}
	return l.Start(ctx)
}

func (l *Lifecycle) ownedOpen() error {
	if l.External != nil {
		return l.External
	}
	if l.closed {
		return l.ErrClosed
	}
	return nil
}

// Close stops the server at once (Kill) and removes its directory. For an external server it
// does nothing. Close is idempotent: later calls return the first call's result.
func (l *Lifecycle) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.External != nil {
		return l.closeErr
	}
	l.closed = true
	var errs []error
	if l.Kill != nil {
		if err := l.Kill(); err != nil && l.running {
			errs = append(errs, err)
		}
	}
	l.running = false
	if l.Dir != "" {
		if err := os.RemoveAll(l.Dir); err != nil {
			errs = append(errs, fmt.Errorf("%s: remove server directory: %w", l.Prefix, err))
		}
	}
	if l.Dog != nil {
		if err := l.Dog.Release(); err != nil {
			errs = append(errs, err)
		}
	}
	l.closeErr = errors.Join(errs...)
	return l.closeErr
}

// Stoppable is a server whose package embeds Lifecycle and says where it listens.
type Stoppable interface {
	io.Closer
	Stop(ctx context.Context) error
	Start(ctx context.Context) error
	Restart(ctx context.Context) error
	External() bool
	Port() int
}

// BenchmarkStart measures start, a server package's Start, and Close.
func BenchmarkStart[S io.Closer](b *testing.B, envURL string, start func(context.Context) (S, error)) {
	if os.Getenv(envURL) != "" {
		b.Skip("external server (" + envURL + ")")
	}
	b.ReportAllocs()
	for b.Loop() {
		s, err := start(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
