package mysqltest

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// UniqueName returns prefix followed by an underscore and 12 random lowercase hex digits, for
// example "app_3f9c0a1b2c4d". Tests use it for user and database names so that they do not
// collide on a shared external server (ROTASAFE_MYSQL_URL) or with each other. MariaDB allows
// user names of up to 128 characters (MySQL 8: 32) and database names of up to 64.
func UniqueName(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// NativePasswordHash returns the mysql_native_password hash of password, the form MariaDB and
// MySQL store: '*' and the upper-case hex of SHA1(SHA1(password)), 41 characters. An empty
// password hashes to "", as the server's PASSWORD function does for it. Statements that take a hash
// (IDENTIFIED BY PASSWORD '*...') set a password without the plaintext reaching the server.
func NativePasswordHash(password string) string {
	if password == "" {
		return ""
	}
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(h2[:]))
}

// QuoteIdent quotes name as a MariaDB/MySQL identifier in backticks, doubling any backtick in
// it. Backtick quoting does not depend on sql_mode (ANSI_QUOTES, NO_BACKSLASH_ESCAPES), so any
// name without a NUL byte is safe.
func QuoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// QuoteAccount quotes an account name, user@host, for CREATE USER, GRANT and the like.
func QuoteAccount(user, host string) string {
	return QuoteIdent(user) + "@" + QuoteIdent(host)
}

// Exec runs query as the admin, on a connection of its own, with args as the driver's
// placeholders (?), which the server binds in a prepared statement.
func (s *Server) Exec(ctx context.Context, query string, args ...any) error {
	db, err := s.openAdmin()
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("mysqltest: exec: %w", err)
	}
	return nil
}

// CreateUser creates the account name@'%' (any host) with password; see CreateUserAt.
func (s *Server) CreateUser(ctx context.Context, name, password string) error {
	return s.CreateUserAt(ctx, name, "%", password)
}

// CreateUserAt creates the account name@host, authenticated by mysql_native_password with
// password; an empty password makes an account without one. The account has no privileges
// beyond logging in (USAGE); grant more with Exec and QuoteAccount.
//
// The password never reaches the server: CreateUserAt sends its hash (NativePasswordHash), so
// neither the general log nor the process list ever shows it. Names may hold quotes,
// backticks, % or anything but a NUL byte.
func (s *Server) CreateUserAt(ctx context.Context, name, host, password string) error {
	if name == "" {
		return errors.New("mysqltest: CreateUser: empty user name")
	}
	if strings.ContainsRune(name, 0) || strings.ContainsRune(host, 0) {
		return errors.New("mysqltest: CreateUser: user or host name holds a NUL byte")
	}
	err := s.Exec(ctx, "CREATE USER "+QuoteAccount(name, host)+" IDENTIFIED BY PASSWORD '"+NativePasswordHash(password)+"'")
	if err != nil {
		return fmt.Errorf("mysqltest: CreateUser %s@%s: %w", name, host, err)
	}
	return nil
}

// CreateDatabase creates database name and, when owner is not empty, grants owner@'%' every
// privilege on it.
func (s *Server) CreateDatabase(ctx context.Context, name, owner string) error {
	if name == "" {
		return errors.New("mysqltest: CreateDatabase: empty database name")
	}
	if err := s.Exec(ctx, "CREATE DATABASE "+QuoteIdent(name)); err != nil {
		return fmt.Errorf("mysqltest: CreateDatabase %s: %w", name, err)
	}
	if owner != "" {
		if err := s.Exec(ctx, "GRANT ALL PRIVILEGES ON "+QuoteIdent(name)+".* TO "+QuoteAccount(owner, "%")); err != nil {
			return fmt.Errorf("mysqltest: CreateDatabase %s: %w", name, err)
		}
	}
	return nil
}

// Login logs in as user with password (to database db; "" for none) and runs a query: the
// check that a credential works. The error is the driver's, which names no password.
func (s *Server) Login(ctx context.Context, user, password, db string) error {
	conn, err := mysql.NewConnector(s.Config(user, password, db))
	if err != nil {
		return err
	}
	sdb := sql.OpenDB(conn)
	defer sdb.Close()
	var one int
	return sdb.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}
