package mysqltest

import (
	"context"
	"crypto/rand"
	"fmt"
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
	server := testserver.FindBinary(dirs, "mariadbd", "mysqld")
	install := testserver.FindBinary(dirs, "mariadb-install-db", "mysql_install_db")
	if server == "" || install == "" {
		return binaries{}, ErrBinariesNotFound
	}
	return binaries{server: server, install: install}, nil
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
		cmd.SysProcAttr.Credential = s.runAs.Credential()
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
		if err := s.runAs.Chown(sqlPath); err != nil {
			return err
		}
	}
	args := []string{
		"--defaults-file=" + s.confPath(),
		"--auth-root-authentication-method=socket",
		"--skip-test-db",
		"--extra-file=" + sqlPath,
	}
	logStart := testserver.Size(s.errLogPath)
	cmd := s.command(ctx, s.bin.install, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		output := testserver.Tail(out)
		if log := testserver.ReadFrom(s.errLogPath, logStart); log != "" {
			output += "\nerror log:\n" + testserver.Tail([]byte(log))
		}
		return &testserver.CmdError{Prefix: "mysqltest", Cmd: filepath.Base(s.bin.install), Err: err, Output: strings.TrimSpace(output)}
	}
	return nil
}

// startServer starts mariadbd on s.port and waits until the admin can log in. A failure
// carries the tail of the error log. The Lifecycle calls it under its lock.
func (s *Server) startServer(ctx context.Context) error {
	logStart := testserver.Size(s.errLogPath)
	out, err := os.OpenFile(filepath.Join(s.dir, "mariadbd.out"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	defer out.Close()
	cmd := s.command(context.Background(), s.bin.server, append(slices.Clone(s.args), "--port="+strconv.Itoa(s.port))...)
	cmd.Stdout, cmd.Stderr = out, out
	p, err := testserver.StartProcess(cmd, "")
	if err != nil {
		return err
	}
	if err := testserver.WaitReady(ctx, p, s.ping); err != nil {
		ce := &testserver.CmdError{Prefix: "mysqltest", Cmd: filepath.Base(s.bin.server) + " --port=" + strconv.Itoa(s.port), Err: err}
		if log := testserver.ReadFrom(s.errLogPath, logStart); log != "" {
			ce.Output = "error log:\n" + testserver.Tail([]byte(log))
			ce.Err = testserver.MarkPortTaken(ce.Err, log)
		}
		return ce
	}
	s.proc = p
	return nil
}
