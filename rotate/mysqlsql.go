package rotate

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// nativePasswordHash returns the hash MySQL and MariaDB store for password under the
// mysql_native_password plugin: '*' and the upper-case hex of SHA1(SHA1(password)), 41
// characters. Given to ALTER USER ... IDENTIFIED WITH mysql_native_password AS (or to
// MariaDB's SET PASSWORD = and IDENTIFIED BY PASSWORD), the server stores it as is, so the
// plaintext never reaches the server, its general log or its binary log.
//
// The hash is unsalted, and with a captured login handshake it yields a working credential:
// it is a secret too, and errors never hold it.
func nativePasswordHash(password string) string {
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(h2[:]))
}

// nativeHashShape is the shape of a mysql_native_password hash: nothing in it can end a SQL
// string literal.
var nativeHashShape = regexp.MustCompile(`^\*[0-9A-F]{40}$`)

// hashLiteral returns h as a SQL string literal, refusing anything that is not shaped like a
// mysql_native_password hash, so that the splice cannot inject (and a malformed hash, which
// the server would answer with error 1396 or store as an unusable password, never reaches it).
func hashLiteral(h string) (string, error) {
	if !nativeHashShape.MatchString(h) {
		return "", errors.New("rotate: internal error: not a mysql_native_password hash")
	}
	return "'" + h + "'", nil
}

// quoteIdent quotes a MySQL identifier (a user or host name in an account name, a role) with
// backticks, doubling any backtick inside. Backtick quoting means the same under every
// sql_mode, unlike string literals (NO_BACKSLASH_ESCAPES) and double quotes (ANSI_QUOTES).
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// account is a MySQL account: a user name and the host pattern it may log in from.
type account struct {
	User, Host string
}

// sql returns the account quoted for a statement: `user`@`host`.
func (a account) sql() string { return quoteIdent(a.User) + "@" + quoteIdent(a.Host) }

// String is user@host for messages.
func (a account) String() string { return a.User + "@" + a.Host }

// checkName refuses a user or host name that cannot be quoted safely: empty, not UTF-8, or
// holding a NUL (which no MySQL identifier may). what names it in the error; the value is
// not printed.
func checkName(what, s string) error {
	switch {
	case s == "" && what == "user name":
		return fmt.Errorf("the %s is empty", what)
	case !utf8.ValidString(s):
		return fmt.Errorf("the %s is not valid UTF-8", what)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("the %s holds a NUL character", what)
	}
	return nil
}

// quoteString returns s as a SQL string literal. With backslashEscapes (the default
// sql_mode) backslashes are escaped as well as quotes; under NO_BACKSLASH_ESCAPES only quotes
// are doubled. Either way nothing in s can end the literal.
func quoteString(s string, backslashEscapes bool) string {
	if backslashEscapes {
		s = strings.ReplaceAll(s, `\`, `\\`)
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// serverInfo is what a strategy needs to know about the server it talks to.
type serverInfo struct {
	mariaDB             bool
	major, minor, patch int
}

// parseVersion reads SELECT VERSION(): "10.11.19-MariaDB-0+deb12u1-log", "8.0.36",
// "8.0.mysql_aurora.3.05.2", "5.5.5-10.11.6-MariaDB" (the replication prefix some proxies
// add).
func parseVersion(v string) serverInfo {
	si := serverInfo{mariaDB: strings.Contains(strings.ToLower(v), "mariadb")}
	v = strings.TrimPrefix(v, "5.5.5-")
	nums := [3]int{}
	for i, part := range strings.SplitN(v, ".", 3) {
		end := strings.IndexFunc(part, func(r rune) bool { return r < '0' || r > '9' })
		if end == 0 {
			break
		}
		if end > 0 {
			part = part[:end]
		}
		nums[i], _ = strconv.Atoi(part)
		if end > 0 {
			break
		}
	}
	si.major, si.minor, si.patch = nums[0], nums[1], nums[2]
	return si
}

// atLeast reports whether the server's version is at least major.minor.patch.
func (si serverInfo) atLeast(major, minor, patch int) bool {
	if si.major != major {
		return si.major > major
	}
	if si.minor != minor {
		return si.minor > minor
	}
	return si.patch >= patch
}

// String names the server for messages: "MariaDB 10.11.19", "MySQL 8.0.36".
func (si serverInfo) String() string {
	name := "MySQL"
	if si.mariaDB {
		name = "MariaDB"
	}
	return fmt.Sprintf("%s %d.%d.%d", name, si.major, si.minor, si.patch)
}

// userNameLimit is the longest user name, in characters, that the server accepts: 128 on
// MariaDB 10.6 and later (MDEV-24312), 80 on MariaDB 10.0 to 10.5, 32 on MySQL 5.7.8 and
// later, 16 before. A longer name is error 1470 (String is too long for user name).
func (si serverInfo) userNameLimit() int {
	switch {
	case si.mariaDB && si.atLeast(10, 6, 0):
		return 128
	case si.mariaDB && si.atLeast(10, 0, 0):
		return 80
	case !si.mariaDB && si.atLeast(5, 7, 8):
		return 32
	}
	return 16
}

// dualPasswordSQL returns the statements that make the account accept exactly the pending and
// the current password, each given as its mysql_native_password hash, or an error naming the
// server when it has no such feature.
//
//   - MariaDB 10.4 and later: one statement, two authentication methods tried in order:
//     ALTER USER a IDENTIFIED VIA mysql_native_password USING '*pending' OR
//     mysql_native_password USING '*current'. It replaces whatever methods the account had.
//   - MySQL 8.0.14 and later: a primary and a secondary password. The first statement makes
//     current the primary (the secondary stays as it was); the second makes pending the primary
//     and keeps current as the secondary (RETAIN CURRENT PASSWORD), dropping the old secondary.
//     current logs in before, between and after them.
//
// Pitfall on both: a later SET PASSWORD or ALTER USER without these clauses changes only the
// first method (MariaDB) or the primary password (MySQL) and leaves the other one working.
func dualPasswordSQL(si serverInfo, a account, pendingHash, currentHash string) ([]string, error) {
	p, err := hashLiteral(pendingHash)
	if err != nil {
		return nil, err
	}
	c, err := hashLiteral(currentHash)
	if err != nil {
		return nil, err
	}
	switch {
	case si.mariaDB && si.atLeast(10, 4, 0):
		return []string{"ALTER USER " + a.sql() + " IDENTIFIED VIA mysql_native_password USING " + p +
			" OR mysql_native_password USING " + c}, nil
	case !si.mariaDB && si.atLeast(8, 0, 14):
		return []string{
			"ALTER USER " + a.sql() + " IDENTIFIED WITH mysql_native_password AS " + c,
			"ALTER USER " + a.sql() + " IDENTIFIED WITH mysql_native_password AS " + p + " RETAIN CURRENT PASSWORD",
		}, nil
	}
	return nil, fmt.Errorf("%s cannot hold two passwords for one account (MariaDB 10.4 or MySQL 8.0.14 can)", si)
}

// setPasswordSQL returns the statement that sets the account's mysql_native_password hash.
//
//   - self (the session's own account) on MariaDB: SET PASSWORD = '*HEX', which needs no
//     privilege. On MySQL 5.7.6 and later SET PASSWORD takes a plaintext password, and
//     ALTER USER USER() no hash, so no statement changes one's own password there without
//     sending the plaintext: MySQL gets ALTER USER for the named account, which needs the
//     CREATE USER privilege (or use WithAdminSecret).
//   - another account: ALTER USER a IDENTIFIED WITH mysql_native_password AS '*HEX', on both.
//
// The hash replaces only the first authentication method (MariaDB) or the primary password
// (MySQL); callers check first that the account has no other.
func setPasswordSQL(si serverInfo, a account, self bool, hash string) (string, error) {
	h, err := hashLiteral(hash)
	if err != nil {
		return "", err
	}
	if self && si.mariaDB {
		return "SET PASSWORD = " + h, nil
	}
	return "ALTER USER " + a.sql() + " IDENTIFIED WITH mysql_native_password AS " + h, nil
}

// createUserSQL returns the statement that creates the account with the password hash.
func createUserSQL(a account, hash string) (string, error) {
	h, err := hashLiteral(hash)
	if err != nil {
		return "", err
	}
	return "CREATE USER " + a.sql() + " IDENTIFIED WITH mysql_native_password AS " + h, nil
}

// tlsRequirement is an account's TLS requirement: the ssl_type, ssl_cipher, x509_issuer and
// x509_subject columns of mysql.user.
type tlsRequirement struct {
	Type, Cipher, Issuer, Subject string
}

// requireSQL returns the ALTER USER statement that gives a the requirement r.
func requireSQL(a account, r tlsRequirement, backslashEscapes bool) (string, error) {
	var clause string
	switch strings.ToUpper(r.Type) {
	case "":
		clause = "NONE"
	case "ANY":
		clause = "SSL"
	case "X509":
		clause = "X509"
	case "SPECIFIED":
		var parts []string
		for _, p := range []struct{ kw, v string }{{"CIPHER", r.Cipher}, {"ISSUER", r.Issuer}, {"SUBJECT", r.Subject}} {
			if p.v != "" {
				parts = append(parts, p.kw+" "+quoteString(p.v, backslashEscapes))
			}
		}
		if len(parts) == 0 {
			clause = "SSL"
		} else {
			clause = strings.Join(parts, " AND ")
		}
	default:
		return "", fmt.Errorf("unknown ssl_type %q of account %s", r.Type, a)
	}
	return "ALTER USER " + a.sql() + " REQUIRE " + clause, nil
}
