package rabbittest

// The process, port, temporary-directory and skip-or-require helpers of this file are the
// seam to the shared internal/testserver helper: on merge they give way to its functions.

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// EnvRequireIntegration names the environment variable that, set to 1, turns the skip New
// does without rabbitmq-server into a failure.
const EnvRequireIntegration = "ROTASAFE_REQUIRE_INTEGRATION"

// skipOrFail skips tb with msg, or fails it when ROTASAFE_REQUIRE_INTEGRATION=1.
func skipOrFail(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv(EnvRequireIntegration) == "1" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// account is the user a server runs as: a service account when the test runs as root, else
// the test's own user (nil credential).
type account struct {
	uid, gid int
	asRoot   bool
}

// serviceAccount returns name's account when running as root, else the current user.
func serviceAccount(name string) (*account, error) {
	if os.Geteuid() != 0 {
		return &account{}, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("running as root, the server runs as %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &account{uid: uid, gid: gid, asRoot: true}, nil
}

func (a *account) credential() *syscall.Credential {
	if !a.asRoot {
		return nil
	}
	return &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid)}
}

func (a *account) chown(path string) error {
	if !a.asRoot {
		return nil
	}
	return os.Chown(path, a.uid, a.gid)
}

// tempDir makes a directory the account owns, removed when the test ends.
func tempDir(tb testing.TB, a *account) (string, error) {
	dir := filepath.Join(tb.TempDir(), "node")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	// tb.TempDir's parents are root's 0700 directories; the account must reach its own.
	for p := dir; a.asRoot && p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o001 == 0 && p != dir {
			if err := os.Chmod(p, fi.Mode().Perm()|0o011); err != nil {
				return "", err
			}
		}
	}
	return dir, a.chown(dir)
}

// writeOwned writes a file only the account reads (an Erlang cookie must be so).
func writeOwned(path, content string, a *account) error {
	if err := os.WriteFile(path, []byte(content), 0o400); err != nil {
		return err
	}
	return a.chown(path)
}

func mkdirOwned(path string, a *account) error {
	if err := os.Mkdir(path, 0o700); err != nil {
		return err
	}
	return a.chown(path)
}

// freePorts returns n distinct free 127.0.0.1 ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
