package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestStartPortTaken checks that a start on a port someone else took fails
// with errPortTaken (which makes Start pick another port) and the server's
// own words, and that the cluster starts once the port is free again.
func TestStartPortTaken(t *testing.T) {
	t.Parallel()
	c := New(t)
	if c.External() {
		t.Skip("external server (ROTASAFE_PG_URL)")
	}
	if err := c.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port())))
	if err != nil {
		t.Skipf("port %d taken by someone else meanwhile: %v", c.Port(), err)
	}
	err = c.Start(t.Context())
	l.Close()
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("got %v, want errPortTaken", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "pg_ctl start") || !strings.Contains(msg, "Address already in use") {
		t.Errorf("error %q names neither the command nor the server's complaint", msg)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("Start once the port is free: %v", err)
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int // sign
	}{
		{"15", "9.6", 1},
		{"9.6", "10", -1},
		{"16", "16", 0},
		{"9.6", "9.5", 1},
	}
	for _, tt := range tests {
		got := compareVersions(tt.a, tt.b)
		if (got > 0) != (tt.want > 0) || (got < 0) != (tt.want < 0) {
			t.Errorf("compareVersions(%q, %q) = %d, want sign %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestQuoteConf(t *testing.T) {
	tests := []struct{ in, want string }{
		{"all", "'all'"},
		{"it's", "'it''s'"},
		{`a\b`, `'a\\b'`},
		{"x\ny", `'x\ny'`},
	}
	for _, tt := range tests {
		if got := quoteConf(tt.in); got != tt.want {
			t.Errorf("quoteConf(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestFindBinaries(t *testing.T) {
	root := t.TempDir()
	mk := func(version string, names ...string) {
		dir := filepath.Join(root, version, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("9.6", "initdb", "pg_ctl", "postgres")
	mk("15", "initdb", "pg_ctl", "postgres")
	mk("16", "initdb", "pg_ctl") // incomplete: no postgres
	glob := filepath.Join(root, "*", "bin")

	t.Setenv("PATH", t.TempDir()) // nothing on PATH
	got, err := findBinaries(glob)
	if want := filepath.Join(root, "15", "bin"); err != nil || got.dir != want {
		t.Errorf("got %q, %v; want %q", got.dir, err, want)
	}

	t.Setenv("PATH", filepath.Join(root, "9.6", "bin")) // PATH wins over the glob
	got, err = findBinaries(glob)
	if want := filepath.Join(root, "9.6", "bin"); err != nil || got.dir != want {
		t.Errorf("with PATH: got %q, %v; want %q", got.dir, err, want)
	}

	t.Setenv("PATH", t.TempDir())
	if _, err := findBinaries(filepath.Join(root, "none", "*")); !errors.Is(err, ErrBinariesNotFound) {
		t.Errorf("no binaries: got %v, want ErrBinariesNotFound", err)
	}
}

// fakeTB records what New does with the test it is given. Skip and Fatal
// end the goroutine, as they do on a real test.
type fakeTB struct {
	testing.TB
	ctx      context.Context
	skipped  string
	fatal    string
	cleanups int
}

func (f *fakeTB) Helper()                  {}
func (f *fakeTB) Context() context.Context { return f.ctx }
func (f *fakeTB) Cleanup(func())           { f.cleanups++ }
func (f *fakeTB) Skip(args ...any)         { f.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (f *fakeTB) Fatal(args ...any)        { f.fatal = fmt.Sprint(args...); runtime.Goexit() }

func TestNewWithoutBinaries(t *testing.T) {
	missing := func(context.Context, ...Option) (*Cluster, error) {
		return nil, fmt.Errorf("wrapped: %w", ErrBinariesNotFound)
	}
	broken := func(context.Context, ...Option) (*Cluster, error) {
		return nil, errors.New("pgtest: initdb: exit status 1")
	}
	tests := []struct {
		name      string
		require   string
		start     func(context.Context, ...Option) (*Cluster, error)
		wantSkip  bool
		wantFatal bool
	}{
		{"missing skips", "", missing, true, false},
		{"missing with require=0 skips", "0", missing, true, false},
		{"missing with require=1 fails", "1", missing, false, true},
		{"other error fails", "", broken, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvRequireIntegration, tt.require)
			f := &fakeTB{ctx: t.Context()}
			done := make(chan struct{})
			go func() {
				defer close(done)
				newTB(f, tt.start, nil)
			}()
			<-done
			if (f.skipped != "") != tt.wantSkip || (f.fatal != "") != tt.wantFatal {
				t.Fatalf("got skip %q fatal %q, want skip=%v fatal=%v", f.skipped, f.fatal, tt.wantSkip, tt.wantFatal)
			}
			msg := f.skipped + f.fatal
			if wantHint := tt.name != "other error fails"; strings.Contains(msg, "apt-get install postgresql") != wantHint {
				t.Errorf("message %q: install hint present=%v, want %v", msg, !wantHint, wantHint)
			}
			if f.cleanups != 0 {
				t.Errorf("got %d cleanups registered for a cluster that did not start", f.cleanups)
			}
		})
	}
}
