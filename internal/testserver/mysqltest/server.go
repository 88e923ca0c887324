package mysqltest

import (
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

// searchDirs are searched for the server binaries after PATH: Debian puts mariadbd in
// /usr/sbin, which is not on every user's PATH.
var searchDirs = []string{"/usr/sbin", "/usr/bin", "/usr/local/mysql/bin", "/usr/local/bin"}

// binaries are the paths of the server and of its install script.
type binaries struct {
	server  string // mariadbd or mysqld
	install string // mariadb-install-db or mysql_install_db
}

// findBinaries looks for each binary under its MariaDB name, then its older MySQL-compatible
// name, on PATH and then in dirs.
func findBinaries(dirs []string) (binaries, error) {
	server := findBinary(dirs, "mariadbd", "mysqld")
	install := findBinary(dirs, "mariadb-install-db", "mysql_install_db")
	if server == "" || install == "" {
		return binaries{}, ErrBinariesNotFound
	}
	return binaries{server: server, install: install}, nil
}

func findBinary(dirs []string, names ...string) string {
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				return abs
			}
		}
		for _, d := range dirs {
			p := filepath.Join(d, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
				return p
			}
		}
	}
	return ""
}

// account is the system user the server binaries run as when the process is root: mariadbd
// refuses to run as root.
type account struct {
	name     string
	uid, gid uint32
}

func lookupAccount(name string) (*account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("mysqltest: running as root needs a %s user to run the server as: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("mysqltest: %s user has non-numeric uid %q or gid %q", name, u.Uid, u.Gid)
	}
	return &account{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
}

// chown gives path and everything in it to the account.
func (a *account) chown(path string) error {
	return filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err == nil {
			err = os.Lchown(p, int(a.uid), int(a.gid))
		}
		if err != nil {
			return fmt.Errorf("mysqltest: chown server directory: %w", err)
		}
		return nil
	})
}

// makeTempDir creates the server's directory: under $TMPDIR when it is set, else under
// /dev/shm when that is a RAM disk with at least 1 GiB free, else under /tmp. Unix socket
// paths are limited to about 100 bytes, so a long TMPDIR falls back to /tmp; so does one the
// mysql user could not reach when the binaries run as that user.
func makeTempDir(runAs bool) (string, error) {
	base := os.Getenv("TMPDIR")
	switch {
	case base == "" && roomyRAMDisk(shmDir):
		base = shmDir
	case base == "" || len(base) > 60 || (runAs && !searchableByAll(base)):
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "mysqltest-")
	if err != nil {
		return "", fmt.Errorf("mysqltest: create server directory: %w", err)
	}
	return dir, nil
}

const shmDir = "/dev/shm"

// roomyRAMDisk reports whether dir is a directory anyone may write and traverse (mode 1777,
// like /tmp) with at least 1 GiB free. Docker gives containers a 64 MiB /dev/shm, too small
// for a server.
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

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. Start retries with
// another one if the server finds it taken.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("mysqltest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// randomPassword returns 26 random base32 characters (130 bits).
func randomPassword() string { return rand.Text() }

func (s *Server) confPath() string { return filepath.Join(s.dir, "my.cnf") }

// writeConf writes the option file both mariadb-install-db and mariadbd read (and no other:
// --defaults-file keeps /etc/mysql out). The settings trade durability for speed, as a test
// server may. Each server has a tmpdir of its own: bootstraps running at once in the shared
// /tmp fail now and then (ERROR 1051 Unknown table 'mysql.tmp_user_sys' after "Could not
// remove temporary table"), 15 of 24 when 8 ran at once on 2 cores.
func (s *Server) writeConf() error {
	tmp := filepath.Join(s.dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	conf := strings.Join([]string{
		"[mysqld]",
		"tmpdir=" + tmp,
		"datadir=" + s.dataDir,
		"socket=" + s.socket,
		"pid-file=" + s.pidPath,
		"log-error=" + s.errLogPath,
		"bind-address=127.0.0.1",
		"skip-name-resolve",
		"character-set-server=utf8mb4",
		"collation-server=utf8mb4_general_ci",
		"innodb-buffer-pool-size=16M",
		"innodb-log-file-size=8M",
		"innodb-flush-log-at-trx-commit=0",
		"innodb-doublewrite=0",
		"innodb-use-native-aio=0", // many servers at once must not exhaust aio-max-nr
		"",
	}, "\n")
	if err := os.WriteFile(s.confPath(), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("mysqltest: write my.cnf: %w", err)
	}
	return nil
}

// command returns a command that runs a server binary, as the mysql user when the process is
// root. MYSQL_* and MARIADB_* variables (MYSQL_PWD, MYSQL_HOME, ...) are left out so that
// they cannot point the tools elsewhere.
func (s *Server) command(ctx context.Context, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = s.dir
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "MYSQL") || strings.HasPrefix(kv, "MARIADB") || strings.HasPrefix(kv, "HOME=")
	})
	cmd.Env = append(cmd.Env, "LC_ALL=C", "HOME="+s.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if s.runAs != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: s.runAs.uid, Gid: s.runAs.gid}
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// installDB creates the data directory and the admin account. The account is created from
// the hash of its password, written to a file that is removed right after, so that the
// password reaches neither a command line nor the server.
//
// The bootstrap runs without grant tables, so CREATE USER cannot run there; the account is
// inserted into mysql.global_priv (MariaDB 10.4 and later) the way mariadb-install-db inserts
// root, with every privilege bit set (GRANT OPTION included).
func (s *Server) installDB(ctx context.Context) error {
	sqlPath := filepath.Join(s.dir, "admin.sql")
	priv := `{"access":18446744073709551615,"plugin":"mysql_native_password","authentication_string":"` +
		NativePasswordHash(s.secret.password) + `"}`
	stmts := "INSERT INTO mysql.global_priv (Host, User, Priv) VALUES ('%', '" + adminUser + "', '" + priv + "');\n"
	if err := os.WriteFile(sqlPath, []byte(stmts), 0o600); err != nil {
		return fmt.Errorf("mysqltest: write admin.sql: %w", err)
	}
	defer os.Remove(sqlPath)
	if s.runAs != nil {
		if err := s.runAs.chown(sqlPath); err != nil {
			return err
		}
	}
	args := []string{
		"--defaults-file=" + s.confPath(),
		"--auth-root-authentication-method=socket",
		"--skip-test-db",
		"--extra-file=" + sqlPath,
	}
	var logStart int64
	if fi, err := os.Stat(s.errLogPath); err == nil {
		logStart = fi.Size()
	}
	cmd := s.command(ctx, s.bin.install, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		output := tail(out)
		if log := readFrom(s.errLogPath, logStart); log != "" {
			output += "\nerror log:\n" + tail([]byte(log))
		}
		return &cmdError{cmd: filepath.Base(s.bin.install), err: err, output: strings.TrimSpace(output)}
	}
	return nil
}

// errPortTaken marks a start that failed because the port was taken.
var errPortTaken = errors.New("port already in use")

// process is a running mariadbd.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
}

// startServerLocked starts mariadbd on s.port and waits until the admin can log in. A failure
// carries the tail of the error log. The caller holds s.mu or owns s alone.
func (s *Server) startServerLocked(ctx context.Context) error {
	var logStart int64
	if fi, err := os.Stat(s.errLogPath); err == nil {
		logStart = fi.Size()
	}
	out, err := os.OpenFile(filepath.Join(s.dir, "mariadbd.out"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	defer out.Close()
	// Not CommandContext: the server outlives ctx, which bounds only the start.
	cmd := s.command(context.Background(), s.bin.server, append(slices.Clone(s.args), "--port="+strconv.Itoa(s.port))...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return &cmdError{cmd: filepath.Base(s.bin.server), err: err}
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()

	failed := func(err error) error {
		ce := &cmdError{cmd: filepath.Base(s.bin.server) + " --port=" + strconv.Itoa(s.port), err: err}
		if log := readFrom(s.errLogPath, logStart); log != "" {
			ce.output = "error log:\n" + tail([]byte(log))
			if strings.Contains(log, "Address already in use") {
				ce.err = fmt.Errorf("%w (%w)", ce.err, errPortTaken)
			}
		}
		return ce
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.ping(pctx)
		pcancel()
		if err == nil {
			s.proc = p
			return nil
		}
		select {
		case <-p.done:
			return failed(fmt.Errorf("exited during start: %v", cmd.ProcessState))
		case <-ctx.Done():
			p.kill()
			return failed(fmt.Errorf("not accepting logins: %w (last: %v)", ctx.Err(), err))
		case <-tick.C:
		}
	}
}

// stop shuts the server down with SIGTERM and waits for it to exit; after a minute, or when
// ctx ends, it kills it.
func (p *process) stop(ctx context.Context) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		p.kill()
		return fmt.Errorf("mysqltest: stop: %w; killed", ctx.Err())
	case <-t.C:
		p.kill()
		return errors.New("mysqltest: stop: server did not exit within a minute; killed")
	}
}

// kill kills the server at once and waits until it is gone.
func (p *process) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// readFrom returns what path holds from offset off on, up to 1 MiB.
func readFrom(path string, off int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.NewSectionReader(f, off, 1<<20))
	return string(b)
}

// watchdog is a process that outlives a crash of ours: it waits for its stdin to close, which
// happens when release is called or when this process exits however it exits, and then kills
// the server named in the pid file (only if its command line names the server's directory, so
// that a reused pid is safe) and removes the directory. It runs in its own process group so
// that a Ctrl-C meant for the test binary does not kill it before it has cleaned up.
type watchdog struct {
	cmd  *exec.Cmd
	pipe *os.File // write end of the watchdog's stdin; closing it fires it
}

const watchdogScript = `read _
pid=$(cat "$1" 2>/dev/null)
if [ -n "$pid" ] && tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"; then
	kill -9 "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
fi
rm -rf "$2"`

func startWatchdog(pidPath, dir string) (*watchdog, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("mysqltest: start watchdog: %w", err)
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", watchdogScript, "mysqltest-watchdog", pidPath, dir)
	cmd.Stdin = r
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("mysqltest: start watchdog: %w", err)
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
		return errors.New("mysqltest: watchdog did not finish within a minute; killed")
	}
}
