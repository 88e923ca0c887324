package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// makeTempDir creates the cluster's directory: under $TMPDIR when it is set,
// else under /dev/shm when that is a RAM disk with at least 1 GiB free
// (initdb runs there in less than half the time it takes on a disk), else
// under /tmp. Unix socket paths are limited to about 100 bytes, so a long
// TMPDIR falls back to /tmp; so does one the postgres user could not reach
// when the binaries run as that user.
func makeTempDir(runAs bool) (string, error) {
	base := os.Getenv("TMPDIR")
	switch {
	case base == "" && roomyRAMDisk(shmDir):
		base = shmDir
	case base == "" || len(base) > 60 || (runAs && !searchableByAll(base)):
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "pgtest-")
	if err != nil {
		return "", fmt.Errorf("pgtest: create cluster directory: %w", err)
	}
	return dir, nil
}

const shmDir = "/dev/shm"

// roomyRAMDisk reports whether dir is a directory anyone may write and
// traverse (mode 1777, like /tmp) with at least 1 GiB free. Docker gives
// containers a 64 MiB /dev/shm, too small for more than one cluster.
func roomyRAMDisk(dir string) bool {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o007 != 0o007 {
		return false
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false
	}
	return uint64(st.Bavail)*uint64(st.Bsize) >= 1<<30
}

// searchableByAll reports whether every directory from / down to dir can be
// traversed by any user.
func searchableByAll(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// chownToPostgres gives dir and everything in it to the postgres user.
func chownToPostgres(dir string) error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("pgtest: running as root needs a postgres user to run the server as: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("pgtest: postgres user has non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("pgtest: chown cluster directory: %w", err)
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("pgtest: chown cluster directory: %w", err)
		}
		return nil
	})
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. Start
// retries with another one if the server finds it taken.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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

// command returns a command that runs a server binary, as the postgres user
// when the process is root. The PG* environment variables of the process are
// left out so that they cannot point the tools elsewhere.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := c.bin.path(name)
	var cmd *exec.Cmd
	if c.runAs {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
	cmd.Env = append(cmd.Env, "LC_ALL=C")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs a server binary and returns an error naming the command, its exit
// status and the tail of its output. Arguments never hold a password: the
// superuser's goes through a file.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := c.command(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return &cmdError{cmd: name + " " + strings.Join(args, " "), err: err, output: tail(out)}
	}
	return nil
}

// cmdError is the failure of a server binary.
type cmdError struct {
	cmd    string
	err    error
	output string // tail of the command's output or of the server log
}

func (e *cmdError) Error() string {
	msg := "pgtest: " + e.cmd + ": " + e.err.Error()
	if e.output != "" {
		msg += "\n" + e.output
	}
	return msg
}

func (e *cmdError) Unwrap() error { return e.err }

// tail returns the last lines of a command's output or log.
func tail(b []byte) string {
	const maxLines, maxBytes = 20, 4096
	b = bytes.TrimSpace(b)
	if len(b) > maxBytes {
		b = b[len(b)-maxBytes:]
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "\n")
}

// initdb creates the data directory. The superuser's password goes through a
// file that is removed right after.
func (c *Cluster) initdb(ctx context.Context) error {
	pwfile := filepath.Join(c.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.secret.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: write password file: %w", err)
	}
	defer os.Remove(pwfile)
	if c.runAs {
		if err := chownToPostgres(pwfile); err != nil {
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

// errPortTaken marks a start that failed because the port was taken.
var errPortTaken = errors.New("port already in use")

// pgCtlStart starts the server on c.port and waits until it accepts
// connections. A failure carries the tail of what the server logged.
func (c *Cluster) pgCtlStart(ctx context.Context) error {
	var logStart int64
	if fi, err := os.Stat(c.logPath); err == nil {
		logStart = fi.Size()
	}
	err := c.run(ctx, "pg_ctl", "start", "--pgdata="+c.dataDir, "--log="+c.logPath,
		"--wait", "--timeout=60", "--silent", "-o", "-p "+strconv.Itoa(c.port))
	if err == nil {
		return nil
	}
	var ce *cmdError
	if errors.As(err, &ce) {
		if log := c.readLogFrom(logStart); log != "" {
			ce.output = strings.TrimSpace(ce.output + "\nserver log:\n" + tail([]byte(log)))
			if strings.Contains(log, "Address already in use") {
				ce.err = fmt.Errorf("%w (%w)", ce.err, errPortTaken)
			}
		}
	}
	return err
}

func (c *Cluster) readLogFrom(off int64) string {
	f, err := os.Open(c.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.NewSectionReader(f, off, 1<<20))
	return string(b)
}

// pgCtlStop stops the server with the given shutdown mode.
func (c *Cluster) pgCtlStop(ctx context.Context, mode string) error {
	return c.run(ctx, "pg_ctl", "stop", "--pgdata="+c.dataDir, "--mode="+mode,
		"--wait", "--timeout=60", "--silent")
}

// watchdog is a process that outlives a crash of ours: it waits for its
// stdin to close, which happens when release is called or when this process
// exits however it exits, and then stops the server and removes the cluster
// directory. It runs in its own process group so that a Ctrl-C meant for the
// test binary does not kill it before it has cleaned up.
type watchdog struct {
	cmd  *exec.Cmd
	pipe *os.File // write end of the watchdog's stdin; closing it fires it
}

func startWatchdog(bin binaries, runAs bool, dataDir, dir string) (*watchdog, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pgtest: start watchdog: %w", err)
	}
	defer r.Close()
	const script = `read _; "$1" stop -D "$2" -m immediate -w -s >/dev/null 2>&1; rm -rf "$3"`
	args := []string{"/bin/sh", "-c", script, "pgtest-watchdog", bin.path("pg_ctl"), dataDir, dir}
	if runAs {
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = r
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("pgtest: start watchdog: %w", err)
	}
	return &watchdog{cmd: cmd, pipe: w}, nil
}

// release fires the watchdog and waits for it to finish.
func (d *watchdog) release() error {
	d.pipe.Close()
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case <-done:
		return nil // its exit status says nothing Close has not checked itself
	case <-time.After(time.Minute):
		d.cmd.Process.Kill()
		<-done
		return errors.New("pgtest: watchdog did not finish within a minute; killed")
	}
}
