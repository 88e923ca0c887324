package testserver

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// Account is the system user a server runs as when the test runs as root: initdb and
// mariadbd refuse to run as root.
type Account struct {
	Name     string
	UID, GID uint32
}

// LookupAccount returns the account of the system user name.
func LookupAccount(name string) (*Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("testserver: running as root needs a %s user to run the server as: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("testserver: %s user has non-numeric uid %q or gid %q", name, u.Uid, u.Gid)
	}
	return &Account{Name: name, UID: uint32(uid), GID: uint32(gid)}, nil
}

// RunAs returns the account a server package runs its binaries as: nil when the process is
// not root, else the account of the system user name (LookupAccount), since a server must not
// run as root (initdb and mariadbd refuse to).
func RunAs(name string) (*Account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	return LookupAccount(name)
}

// Chown gives path and everything in it to the account.
func (a *Account) Chown(path string) error {
	return filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err == nil {
			err = os.Lchown(p, int(a.UID), int(a.GID))
		}
		if err != nil {
			return fmt.Errorf("testserver: chown server directory: %w", err)
		}
		return nil
	})
}

// Credential returns the credential that runs a command as the account
// (exec.Cmd.SysProcAttr.Credential).
func (a *Account) Credential() *syscall.Credential {
	return &syscall.Credential{Uid: a.UID, Gid: a.GID}
}
