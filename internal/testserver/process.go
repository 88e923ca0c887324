package testserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
)

// FindBinary returns the absolute path of the first of names found on PATH or, failing that,
// in one of dirs (where Debian puts daemons that are not on every user's PATH, such as
// /usr/sbin); "" when none is found. Each name is looked for everywhere before the next.
func FindBinary(dirs []string, names ...string) string {
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				return abs
			}
		}
		for _, d := range dirs {
			if p := filepath.Join(d, name); IsExecutable(p) {
				return p
			}
		}
	}
	return ""
}

// IsExecutable reports whether path is a regular file someone may execute.
func IsExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// ErrPortTaken marks a start that failed because another process took the port between
// FreePort and the server's bind; OnFreePort then tries another port.
var ErrPortTaken = errors.New("port already in use")

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testserver: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// OnFreePort calls start with a free port until it returns nil, or an error that does not
// match ErrPortTaken, at most five times; it returns the port of the last call.
func OnFreePort(start func(port int) error) (int, error) {
	const attempts = 5
	var port int
	var err error
	for i := range attempts {
		if port, err = FreePort(); err != nil {
			return 0, err
		}
		err = start(port)
		if err == nil || !errors.Is(err, ErrPortTaken) || i == attempts-1 {
			break
		}
	}
	return port, err
}

// MarkPortTaken wraps err with ErrPortTaken when log, what the server said, complains that
// its address is in use (as C servers say it, or as Erlang's eaddrinuse).
func MarkPortTaken(err error, log string) error {
	if l := strings.ToLower(log); err != nil && (strings.Contains(l, "address already in use") || strings.Contains(l, "eaddrinuse")) {
		return fmt.Errorf("%w (%w)", err, ErrPortTaken)
	}
	return err
}

// TempDir creates a server's directory named prefix and a random suffix: under $TMPDIR when
// it is set, else under /dev/shm when that is a RAM disk with at least 1 GiB free (initdb
// and mariadb-install-db run there in less than half the time they take on a disk), else
// under /tmp. Unix socket paths are limited to about 100 bytes, so a long TMPDIR falls back
// to /tmp; so does one another user could not reach when public is set (the server runs as
// another user than the test).
func TempDir(prefix string, public bool) (string, error) {
	base := os.Getenv("TMPDIR")
	switch {
	case base == "" && roomyRAMDisk(shmDir):
		base = shmDir
	case base == "" || len(base) > 60 || (public && !searchableByAll(base)):
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, prefix)
	if err != nil {
		return "", fmt.Errorf("testserver: create server directory: %w", err)
	}
	return dir, nil
}

const shmDir = "/dev/shm"

// roomyRAMDisk reports whether dir is a directory anyone may write and traverse (mode 1777,
// like /tmp) with at least 1 GiB free. Docker gives containers a 64 MiB /dev/shm, too small
// for more than one server.
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

// searchableByAll reports whether every directory from / down to dir can be traversed by any
// user.
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

// Process is a running server started by StartProcess: in a process group of its own, so
// that a Ctrl-C meant for the test binary reaches only the binary, always reaped, and killed
// by a watchdog if the test binary dies first.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
}

// StartProcess starts cmd (not with exec.CommandContext: a server outlives the context of
// its start) in its own process group and reaps it when it exits. A watchdog kills the
// group if the test binary goes away first. When pidFile is not "" it writes the process's
// pid there, for WatchPID.
func StartProcess(cmd *exec.Cmd, pidFile string) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testserver: start %s: %w", filepath.Base(cmd.Path), err)
	}
	// "kill -9 -PGID": dash's kill, /bin/sh on Debian, takes no "--" and refuses it.
	dog, err := Watch("kill", "-9", "-"+strconv.Itoa(cmd.Process.Pid))
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		dog.Release() // kills what the server left in its group; the group is otherwise gone
		close(p.done)
	}()
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
			p.Kill()
			return nil, fmt.Errorf("testserver: write pid file: %w", err)
		}
	}
	return p, nil
}

// Pid returns the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitState describes how the process ended; call it only after Done is closed.
func (p *Process) ExitState() string { return fmt.Sprint(p.cmd.ProcessState) }

// Stop asks the process to shut down (SIGTERM) and waits until it has exited; after a
// minute, or when ctx ends, it kills it and says so.
func (p *Process) Stop(ctx context.Context) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("testserver: stop %s: %w; killed", filepath.Base(p.cmd.Path), ctx.Err())
	case <-t.C:
		p.Kill()
		return fmt.Errorf("testserver: stop %s: no exit within a minute; killed", filepath.Base(p.cmd.Path))
	}
}

// Kill kills the process and its group at once (SIGKILL) and waits until it is gone. The
// group goes too: a child that holds the process's output pipe (beam under the
// rabbitmq-server script) would otherwise keep exec.Cmd.Wait from returning.
func (p *Process) Kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.cmd.Process.Kill()
	<-p.done
}

// WaitReady calls ready every 20 ms until it returns nil. It fails, killing p, when p exits
// first (with the exit state) or when ctx ends, or after a minute when ctx has no deadline
// (with ready's last error).
func WaitReady(ctx context.Context, p *Process, ready func(context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute) // a hang guard: a loaded machine starts servers late
		defer cancel()
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		err := ready(rctx)
		rcancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited during start: %s", p.ExitState())
		case <-ctx.Done():
			p.Kill()
			return fmt.Errorf("not ready: %w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Watchdog is a process that outlives a crash of the test binary: it waits for its stdin to
// close, which happens when Release is called or when the binary exits however it exits, and
// then runs its cleanup command. It runs in its own process group so that a Ctrl-C meant for
// the test binary does not kill it before it has cleaned up.
type Watchdog struct {
	cmd  *exec.Cmd
	pipe *os.File // write end of the watchdog's stdin; closing it fires it
}

// Watch starts a watchdog that runs the command cleanup (a program and its arguments) once
// fired. The command must not read its standard input.
func Watch(cleanup ...string) (*Watchdog, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("testserver: start watchdog: %w", err)
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", append([]string{"-c", `read _; "$@" </dev/null >/dev/null 2>&1`, "testserver-watchdog"}, cleanup...)...)
	cmd.Stdin = r
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("testserver: start watchdog: %w", err)
	}
	return &Watchdog{cmd: cmd, pipe: w}, nil
}

// killScript kills the process named in the pid file $1, but only if its command line names
// the directory $2 (so that a reused pid is safe), waits for it to go, and removes $2.
const killScript = `pid=$(head -n 1 "$1" 2>/dev/null)
if [ -n "$pid" ] && tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"; then
	kill -9 "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
fi
rm -rf "$2"`

// WatchPID starts a watchdog that, once fired, kills the process whose pid is on the first
// line of pidFile (as StartProcess writes it) if its command line names dir, and removes dir.
func WatchPID(pidFile, dir string) (*Watchdog, error) {
	return Watch("/bin/sh", "-c", killScript, "testserver-kill", pidFile, dir)
}

// Release fires the watchdog and waits for it to finish.
func (d *Watchdog) Release() error {
	d.pipe.Close()
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case <-done:
		return nil // its exit status says nothing the server's Close has not checked itself
	case <-time.After(time.Minute):
		d.cmd.Process.Kill()
		<-done
		return errors.New("testserver: watchdog did not finish within a minute; killed")
	}
}

// CmdError is the failure of a server binary: the command, how it failed and the tail of
// what it (or its log) said. Prefix names the server package.
type CmdError struct {
	Prefix string // "pgtest", "mysqltest", ...
	Cmd    string // the command line, without secrets
	Err    error
	Output string // tail of the command's output or of the server's log
}

func (e *CmdError) Error() string {
	msg := e.Prefix + ": " + e.Cmd + ": " + e.Err.Error()
	if e.Output != "" {
		msg += "\n" + e.Output
	}
	return msg
}

func (e *CmdError) Unwrap() error { return e.Err }

// Tail returns the last 20 lines (at most 4 KiB) of a command's output or log.
func Tail(b []byte) string {
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

// Size returns the size of the file at path, 0 when it does not exist: where to read a log
// from with ReadFrom after a start.
func Size(path string) int64 {
	if fi, err := os.Stat(path); err == nil {
		return fi.Size()
	}
	return 0
}

// ReadFrom returns what the file at path holds from offset off on, up to 1 MiB; "" when it
// cannot be read.
func ReadFrom(path string, off int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.NewSectionReader(f, off, 1<<20))
	return string(b)
}

// Buffer collects a process's output, written by the goroutines of exec.Cmd while a test
// reads it. It is fixture.Buffer, the one goroutine-safe buffer of the module's tests.
type Buffer = fixture.Buffer
