package mysqltest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
)

func TestFindBinaries(t *testing.T) {
	root := t.TempDir()
	mk := func(dir string, names ...string) string {
		return fixture.Executables(t, filepath.Join(root, dir), names...)
	}
	sbin := mk("sbin", "mariadbd", "mysqld")
	bin := mk("bin", "mariadb-install-db")
	old := mk("old", "mysqld", "mysql_install_db")
	onPath := mk("path", "mariadbd")

	t.Setenv("PATH", t.TempDir()) // nothing on PATH
	got, err := findBinaries([]string{sbin, bin})
	if want := (binaries{server: filepath.Join(sbin, "mariadbd"), install: filepath.Join(bin, "mariadb-install-db")}); err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	got, err = findBinaries([]string{old})
	if want := (binaries{server: filepath.Join(old, "mysqld"), install: filepath.Join(old, "mysql_install_db")}); err != nil || got != want {
		t.Errorf("older names: got %+v, %v; want %+v", got, err, want)
	}

	t.Setenv("PATH", onPath) // PATH wins over the directories
	got, err = findBinaries([]string{sbin, bin})
	if err != nil || got.server != filepath.Join(onPath, "mariadbd") {
		t.Errorf("with PATH: got %+v, %v; want the server from PATH", got, err)
	}

	t.Setenv("PATH", t.TempDir())
	if _, err := findBinaries([]string{sbin}); !errors.Is(err, ErrBinariesNotFound) {
		t.Errorf("no install script: got %v, want ErrBinariesNotFound", err)
	}
}

// fakeTB records the errors CheckLogs reports.
type fakeTB struct {
	testing.TB
	ctx    context.Context
	errors []string
}

func (f *fakeTB) Helper()                  {}
func (f *fakeTB) Context() context.Context { return f.ctx }
func (f *fakeTB) Error(args ...any)        { f.errors = append(f.errors, fmt.Sprint(args...)) }
func (f *fakeTB) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Log(args ...any) {}

// TestErrBinariesNotFound checks that a missing server skips (testserver.SkipOrFail matches
// it) with a message that says what to install.
func TestErrBinariesNotFound(t *testing.T) {
	if !errors.Is(ErrBinariesNotFound, testserver.ErrNotInstalled) {
		t.Error("ErrBinariesNotFound does not match testserver.ErrNotInstalled: a test without MariaDB would fail, not skip")
	}
	if msg := ErrBinariesNotFound.Error(); !strings.Contains(msg, "apt-get install mariadb-server") {
		t.Errorf("message %q does not say what to install", msg)
	}
}

func TestCheckLogs(t *testing.T) {
	t.Parallel()
	s := New(t)
	if s.External() {
		t.Skip("external server (ROTASAFE_MYSQL_URL): no logs")
	}
	leaked, kept := "leaked-"+randomPassword(), "kept-"+randomPassword()
	// The server's PASSWORD() receives the plaintext: the general log shows it.
	if err := s.Exec(t.Context(), "DO PASSWORD('"+leaked+"')"); err != nil {
		t.Fatal(err)
	}
	f := &fakeTB{ctx: t.Context()}
	s.CheckLogs(f, kept, "", leaked)
	if len(f.errors) != 1 || !strings.Contains(f.errors[0], "general log holds secret #2") {
		t.Fatalf("got errors %q, want one naming secret #2 in the general log", f.errors)
	}
	if strings.Contains(f.errors[0], leaked) {
		t.Errorf("CheckLogs's message %q prints the secret", f.errors[0])
	}
}

// TestWatchdogCleansUp starts a server in a child process that then dies without Close, and
// checks that the watchdog kills the server and removes its directory.
func TestWatchdogCleansUp(t *testing.T) {
	if os.Getenv(EnvURL) != "" {
		t.Skip("external server (ROTASAFE_MYSQL_URL)")
	}
	if _, err := findBinaries(searchDirs); err != nil {
		testserver.SkipOrFail(t, err)
	}
	testserver.CheckCrashCleanup(t, func() (string, int, error) {
		s, err := Start(context.Background())
		if err != nil {
			return "", 0, err
		}
		return s.dir, s.proc.Pid(), nil
	})
}
