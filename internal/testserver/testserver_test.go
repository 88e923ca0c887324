package testserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
)

// fakeTB records what SkipOrFail and New do with the test they are given. Skip and Fatal
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

type server struct{}

func (server) Close() error { return nil }

var errMissing = NotInstalled("footest: foo-server not found; install it (Debian: apt-get install foo)")

func TestNewWithoutBinaries(t *testing.T) {
	missing := func(context.Context) (server, error) { return server{}, fmt.Errorf("wrapped: %w", errMissing) }
	broken := func(context.Context) (server, error) { return server{}, errors.New("footest: init: exit status 1") }
	works := func(context.Context) (server, error) { return server{}, nil }
	tests := []struct {
		name                string
		require             string
		start               func(context.Context) (server, error)
		wantSkip, wantFatal bool
		wantCleanups        int
	}{
		{"missing skips", "", missing, true, false, 0},
		{"missing with require=0 skips", "0", missing, true, false, 0},
		{"missing with require=1 fails", "1", missing, false, true, 0},
		{"other error fails", "", broken, false, true, 0},
		{"a started server is closed", "1", works, false, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvRequireIntegration, tt.require)
			f := &fakeTB{ctx: t.Context()}
			done := make(chan struct{})
			go func() {
				defer close(done)
				New(f, tt.start)
			}()
			<-done
			if (f.skipped != "") != tt.wantSkip || (f.fatal != "") != tt.wantFatal {
				t.Fatalf("got skip %q fatal %q, want skip=%v fatal=%v", f.skipped, f.fatal, tt.wantSkip, tt.wantFatal)
			}
			msg := f.skipped + f.fatal
			if wantHint := tt.start != nil && (tt.wantSkip || tt.require == "1" && tt.wantFatal); strings.Contains(msg, "apt-get install foo") != wantHint {
				t.Errorf("message %q: install hint present=%v, want %v", msg, !wantHint, wantHint)
			}
			if f.cleanups != tt.wantCleanups {
				t.Errorf("got %d cleanups, want %d", f.cleanups, tt.wantCleanups)
			}
		})
	}
}

func TestSharedStartsOnce(t *testing.T) {
	starts := 0
	sh := Shared[server]{Start: func(context.Context) (server, error) { starts++; return server{}, nil }}
	sh.Get(t)
	sh.Get(t)
	if err := sh.Close(); err != nil || starts != 1 {
		t.Fatalf("got %d starts and Close %v, want 1 and nil", starts, err)
	}
	var unused Shared[server]
	if err := unused.Close(); err != nil {
		t.Fatalf("Close of a server never started: %v", err)
	}
}

func TestFindBinary(t *testing.T) {
	root := t.TempDir()
	mk := func(dir string, names ...string) string {
		return fixture.Executables(t, filepath.Join(root, dir), names...)
	}
	sbin, onPath := mk("sbin", "foo-server", "old-server"), mk("path", "old-server")
	if err := os.WriteFile(filepath.Join(sbin, "data"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", onPath)
	for _, tt := range []struct {
		names []string
		want  string
	}{
		{[]string{"foo-server", "old-server"}, filepath.Join(sbin, "foo-server")}, // the first name wins, wherever it is
		{[]string{"old-server"}, filepath.Join(onPath, "old-server")},             // PATH wins over the directories
		{[]string{"data"}, ""}, // not executable
		{[]string{"none"}, ""},
	} {
		if got := FindBinary([]string{sbin}, tt.names...); got != tt.want {
			t.Errorf("FindBinary(%v): got %q, want %q", tt.names, got, tt.want)
		}
	}
}

func TestOnFreePortRetriesTakenPorts(t *testing.T) {
	calls := 0
	_, err := OnFreePort(func(int) error {
		calls++
		if calls < 3 {
			return MarkPortTaken(errors.New("bind"), "Address already in use")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("got %d calls and %v, want 3 and nil", calls, err)
	}
	erl := "{error,{rabbitmq_management,{bad_return,{{rabbit_mgmt_app,start,[normal,[]]},{'EXIT',{{could_not_start_listener,eaddrinuse}}}}}}}"
	if !errors.Is(MarkPortTaken(errors.New("exited during start"), erl), ErrPortTaken) {
		t.Error("an Erlang listener's eaddrinuse is not taken for a port another process took")
	}
	calls = 0
	if _, err := OnFreePort(func(int) error { calls++; return errors.New("broken") }); err == nil || calls != 1 {
		t.Fatalf("another error: got %d calls and %v, want 1 and the error", calls, err)
	}
}

// TestWatchdogCleansUp checks that the watchdogs of StartProcess and WatchPID kill a process
// and remove its directory when the test binary dies.
func TestWatchdogCleansUp(t *testing.T) {
	CheckCrashCleanup(t, func() (string, int, error) {
		dir, err := TempDir("testserver-", false)
		if err != nil {
			return "", 0, err
		}
		pidFile := filepath.Join(dir, "pid")
		// The directory on the command line, as a server's data directory is.
		p, err := StartProcess(exec.Command("/bin/sh", "-c", "sleep 600", dir), pidFile)
		if err != nil {
			return "", 0, err
		}
		_, err = WatchPID(pidFile, dir)
		return dir, p.Pid(), err
	})
}

func TestWaitingParallel(t *testing.T) {
	f := flag.Lookup("test.parallel")
	if f == nil {
		t.Fatal("no test.parallel flag")
	}
	old := f.Value.String()
	t.Cleanup(func() { _ = f.Value.Set(old) })
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	want := strconv.Itoa(max(runtime.GOMAXPROCS(0)+2, 1))
	WaitingParallel(runtime.GOMAXPROCS(0) + 2)
	if got := f.Value.String(); given && got != old || !given && got != want {
		t.Errorf("test.parallel = %s (given on the command line: %v, was %s), want %s unless given", got, given, old, want)
	}
	_ = f.Value.Set(old)
	WaitingParallel(1) // never below the default
	if got := f.Value.String(); got != old {
		t.Errorf("WaitingParallel(1): test.parallel = %s, want %s", got, old)
	}
}
