package rotate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/rotasafe/rotasafe"
)

// db is the secret's fields.
func (s mySecret) db() rotasafe.DBSecret { return s.DBSecret }

// port is the secret's port, 3306 when it names none (whatever its engine field says).
func (s mySecret) port() int {
	if s.Port == 0 {
		return 3306
	}
	return s.Port
}

// addr is host:port, for connecting and for messages.
func (s mySecret) addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.port()))
}

// sameServer reports whether two secrets name the same server.
func (s mySecret) sameServer(o mySecret) bool {
	return s.Host == o.Host && s.port() == o.port()
}

// myConn is one session with a MySQL or MariaDB server.
type myConn struct {
	db   *sql.DB
	conn *sql.Conn
	user string // the secret's user name, for messages
}

// close ends the session.
func (c *myConn) close() {
	if c == nil {
		return
	}
	_ = c.conn.Close()
	_ = c.db.Close()
}

// nopLogger keeps go-sql-driver from printing to stderr.
type nopLogger struct{}

func (nopLogger) Print(...any) {}

// mysqlConfig returns the driver configuration for s with the given TLS setting.
func (m *myStrategy) mysqlConfig(s mySecret, mode TLSMode) (*mysql.Config, error) {
	cfg := mysql.NewConfig()
	cfg.User = s.Username
	cfg.Passwd = s.Password
	cfg.Net = "tcp"
	cfg.Addr = s.addr()
	cfg.DBName = s.DBName // none by default
	cfg.Timeout = m.cfg.connectTimeout
	cfg.Logger = nopLogger{}
	cfg.AllowNativePasswords = true
	cfg.AllowCleartextPasswords = false // never send the password in clear, whatever the server asks
	cfg.ConnectionAttributes = "program_name:rotasafe-rotate"
	switch mode {
	case TLSDisable:
	case TLSPrefer:
		cfg.TLS = &tls.Config{InsecureSkipVerify: true}
		cfg.AllowFallbackToPlaintext = true
	case TLSRequire:
		cfg.TLS = &tls.Config{InsecureSkipVerify: true}
	case TLSVerifyCA:
		cfg.TLS = &tls.Config{InsecureSkipVerify: true, VerifyConnection: verifyChainOnly}
	case TLSVerifyFull, TLSPreferVerified:
		cfg.TLS = &tls.Config{ServerName: s.Host}
		cfg.AllowFallbackToPlaintext = mode == TLSPreferVerified
	default:
		return nil, fmt.Errorf("unknown TLS mode %q", string(mode))
	}
	return cfg, nil
}

// verifyChainOnly verifies the server's certificate chain against the system roots without
// checking the host name (libpq's verify-ca).
func verifyChainOnly(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	opts := x509.VerifyOptions{Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	return err
}

// connect logs in to the server the secret names, as its user, with its password. The error
// names the user and the address, never the password.
//
// TLS follows WithTLSMode as the PostgreSQL strategies do: by default TLS with full
// verification, then a plain connection when the server has no TLS or the TLS attempt fails
// for any reason but a refused login, as AWS's rotation templates do for a secret without an
// "ssl" key.
func (m *myStrategy) connect(ctx context.Context, s mySecret) (*myConn, error) {
	if err := m.before(ctx, nil, "connect "+s.Username); err != nil {
		return nil, err
	}
	mode := m.cfg.tls
	if mode == TLSFromSecret {
		mode = sslModeOf(s.raw)
	}
	c, err := m.dial(ctx, s, mode)
	if err != nil && mode == TLSPreferVerified && !isMySQLError(err) {
		c, err = m.dial(ctx, s, TLSDisable)
	}
	if err != nil {
		return nil, fmt.Errorf("log in to %s as %s: %w", s.addr(), s.Username, err)
	}
	return c, nil
}

func (m *myStrategy) dial(ctx context.Context, s mySecret, mode TLSMode) (*myConn, error) {
	cfg, err := m.mysqlConfig(s, mode)
	if err != nil {
		return nil, err
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("connection settings: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(ctx, m.cfg.connectTimeout)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &myConn{db: db, conn: conn, user: s.Username}, nil
}

// isMySQLError reports whether err is an answer of the server (a refused login, say), as
// opposed to a failure to reach it or to agree on TLS.
func isMySQLError(err error) bool {
	_, ok := errors.AsType[*mysql.MySQLError](err)
	return ok
}

// statementError is a failed statement: the server's error number and SQLSTATE, without the
// server's message, which may quote the statement and with it a password hash (error 1064,
// "... near '...'"). It does not unwrap to the *mysql.MySQLError for the same reason.
type statementError struct {
	Number   uint16
	SQLState string
}

func (e *statementError) Error() string {
	return fmt.Sprintf("server error %d (SQLSTATE %s)", e.Number, e.SQLState)
}

// stmtErr replaces a statement's error by its number and SQLSTATE.
func stmtErr(err error) error {
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		return &statementError{Number: me.Number, SQLState: string(me.SQLState[:])}
	}
	return err
}

// errNumber returns the server's error number of err, or 0.
func errNumber(err error) uint16 {
	if se, ok := errors.AsType[*statementError](err); ok {
		return se.Number
	}
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		return me.Number
	}
	return 0
}

// before runs the test seam, if any.
func (m *myStrategy) before(ctx context.Context, c *myConn, op string) error {
	if m.cfg.myHook == nil {
		return nil
	}
	var conn *sql.Conn
	if c != nil {
		conn = c.conn
	}
	return m.cfg.myHook(ctx, conn, op)
}

// exec runs a statement; the error holds the server's error number, never the statement.
func (m *myStrategy) exec(ctx context.Context, c *myConn, stmt string) error {
	if err := m.before(ctx, c, stmt); err != nil {
		return err
	}
	if _, err := c.conn.ExecContext(ctx, stmt); err != nil {
		return stmtErr(err)
	}
	return nil
}

// queryStrings runs a query and returns the rows of its first n columns as strings (NULL is "").
func (m *myStrategy) queryStrings(ctx context.Context, c *myConn, n int, query string, args ...any) ([][]string, error) {
	if err := m.before(ctx, c, query); err != nil {
		return nil, err
	}
	rows, err := c.conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, stmtErr(err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, stmtErr(err)
		}
		row := make([]string, n)
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, stmtErr(err)
	}
	return out, nil
}

// session is what a strategy learns about a session once: the server, the account the
// server matched the login to (CURRENT_USER()), and whether string literals take backslash
// escapes.
type session struct {
	*myConn
	server           serverInfo
	account          account
	backslashEscapes bool
}

// describe reads the server version, the session's account and its sql_mode.
func (m *myStrategy) describe(ctx context.Context, c *myConn) (*session, error) {
	rows, err := m.queryStrings(ctx, c, 3, "SELECT VERSION(), CURRENT_USER(), @@SESSION.sql_mode")
	if err != nil {
		return nil, fmt.Errorf("read the server version as %s: %w", c.user, err)
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("read the server version as %s: no row", c.user)
	}
	s := &session{myConn: c, server: parseVersion(rows[0][0])}
	// CURRENT_USER() is user@host, split at the last @ (a user name may hold @, a host not).
	cu := rows[0][1]
	at := strings.LastIndexByte(cu, '@')
	if at < 0 {
		return nil, fmt.Errorf("CURRENT_USER() of %s has no host", c.user)
	}
	s.account = account{User: cu[:at], Host: cu[at+1:]}
	s.backslashEscapes = !strings.Contains(strings.ToUpper(rows[0][2]), "NO_BACKSLASH_ESCAPES")
	return s, nil
}

// authMethods returns the authentication methods of account a (CURRENT_USER() when self).
func (m *myStrategy) authMethods(ctx context.Context, s *session, a account, self bool) ([]authMethod, error) {
	q := "SHOW CREATE USER " + a.sql()
	if self {
		q = "SHOW CREATE USER CURRENT_USER()"
	}
	rows, err := m.queryStrings(ctx, s.myConn, 1, q)
	if err != nil {
		return nil, fmt.Errorf("SHOW CREATE USER %s: %w", a, err)
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("SHOW CREATE USER %s: %d rows", a, len(rows))
	}
	methods, err := parseAuth(rows[0][0])
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", a, err)
	}
	return methods, nil
}

// errPlugin is the cause when an account does not authenticate with mysql_native_password
// alone, so that setting a native hash would silently change how it logs in.
var errPlugin = errors.New("does not log in with mysql_native_password")

// checkNative refuses an account whose methods are not all mysql_native_password, or that
// has more than max of them.
func checkNative(a account, methods []authMethod, max int) error {
	for _, m := range methods {
		if m.plugin != "mysql_native_password" {
			return fmt.Errorf("account %s %w but with %s; rotasafe sets only mysql_native_password hashes, "+
				"never a plaintext password, and does not change an account's plugin", a, errPlugin, m.plugin)
		}
	}
	if len(methods) > max {
		return fmt.Errorf("account %s has %d passwords; a single-password rotation would change only the first "+
			"and leave the others working (use MySQLDualPassword, or reset the account)", a, len(methods))
	}
	return nil
}
