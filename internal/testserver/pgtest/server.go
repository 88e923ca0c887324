package pgtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rotasafe/rotasafe/internal/testserver"
)

// debianBinGlob is where Debian and Ubuntu install the server binaries of
// each major version.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// binaries is a directory that holds initdb, pg_ctl and postgres.
type binaries struct{ dir string }

func (b binaries) path(name string) string { return filepath.Join(b.dir, name) }

// findBinaries looks for the server binaries on PATH first, then in the
// directories glob matches (debianBinGlob), highest version first.
func findBinaries(glob string) (binaries, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if abs, err := filepath.Abs(p); err == nil && hasServerBinaries(filepath.Dir(abs)) {
			return binaries{dir: filepath.Dir(abs)}, nil
		}
	}
	dirs, _ := filepath.Glob(glob)
	slices.SortFunc(dirs, func(a, b string) int { // highest version first
		return compareVersions(filepath.Base(filepath.Dir(b)), filepath.Base(filepath.Dir(a)))
	})
	for _, d := range dirs {
		if hasServerBinaries(d) {
			return binaries{dir: d}, nil
		}
	}
	return binaries{}, ErrBinariesNotFound
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// compareVersions compares dotted version strings such as "9.6" and "15"
// numerically, part by part.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// randomPassword returns 26 random base32 characters (130 bits).
func randomPassword() string { return rand.Text() }

func validSettingName(s string) bool {
	if s == "" || !(s[0] == '_' || isLetter(s[0])) {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c == '_' || c == '.' || isLetter(c) || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// quoteConf quotes a postgresql.conf string value.
func quoteConf(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `''`, "\n", `\n`, "\r", `\r`)
	return "'" + r.Replace(s) + "'"
}

func appendConf(path string, lines []string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: write postgresql.conf: %w", err)
	}
	_, err = io.WriteString(f, "\n# pgtest\n"+strings.Join(lines, "\n")+"\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgtest: write postgresql.conf: %w", err)
	}
	return nil
}

// command returns a command that runs a server binary, as the postgres user when the process
// is root. The PG* environment variables of the process are left out so that they cannot
// point the tools elsewhere.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bin.path(name), args...)
	cmd.Dir = c.dir
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
	cmd.Env = append(cmd.Env, "LC_ALL=C")
	if c.runAs != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.runAs.Credential()}
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs a server binary and returns an error naming the command, its exit status and the
// tail of its output. Arguments never hold a password: the superuser's goes through a file.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := c.command(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return &testserver.CmdError{Prefix: "pgtest", Cmd: name + " " + strings.Join(args, " "), Err: err, Output: testserver.Tail(out)}
	}
	return nil
}

// initdb creates the data directory. The superuser's password goes through a
// file that is removed right after.
func (c *Cluster) initdb(ctx context.Context) error {
	pwfile := filepath.Join(c.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.secret.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: write password file: %w", err)
	}
	defer os.Remove(pwfile)
	if c.runAs != nil {
		if err := c.runAs.Chown(pwfile); err != nil {
			return err
		}
	}
	return c.run(ctx, "initdb",
		"--pgdata="+c.dataDir,
		"--username="+superUser,
		"--pwfile="+pwfile,
		"--auth=scram-sha-256",
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync",
	)
}

// pgCtlStart starts the server on c.port and waits until it accepts
// connections. A failure carries the tail of what the server logged.
func (c *Cluster) pgCtlStart(ctx context.Context) error {
	logStart := testserver.Size(c.logPath)
	err := c.run(ctx, "pg_ctl", "start", "--pgdata="+c.dataDir, "--log="+c.logPath,
		"--wait", "--timeout=60", "--silent", "-o", "-p "+strconv.Itoa(c.port))
	if ce, ok := errors.AsType[*testserver.CmdError](err); ok {
		if log := testserver.ReadFrom(c.logPath, logStart); log != "" {
			ce.Output = strings.TrimSpace(ce.Output + "\nserver log:\n" + testserver.Tail([]byte(log)))
			ce.Err = testserver.MarkPortTaken(ce.Err, log)
		}
	}
	return err
}

// pgCtlStop stops the server with the given shutdown mode.
func (c *Cluster) pgCtlStop(ctx context.Context, mode string) error {
	return c.run(ctx, "pg_ctl", "stop", "--pgdata="+c.dataDir, "--mode="+mode,
		"--wait", "--timeout=60", "--silent")
}

// watchdogScript stops the server at once ($1 is pg_ctl, $2 the data directory) and removes
// the cluster's directory $3.
const watchdogScript = `"$1" stop -D "$2" -m immediate -w -s >/dev/null 2>&1; rm -rf "$3"`

// startWatchdog starts the watchdog that stops the server and removes its directory when
// the process goes away without Close.
func (c *Cluster) startWatchdog() (*testserver.Watchdog, error) {
	cleanup := []string{"/bin/sh", "-c", watchdogScript, "pgtest-watchdog", c.bin.path("pg_ctl"), c.dataDir, c.dir}
	if c.runAs != nil {
		cleanup = append([]string{"runuser", "-u", c.runAs.Name, "--"}, cleanup...)
	}
	return testserver.Watch(cleanup...)
}
