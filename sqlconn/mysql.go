package sqlconn

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/netclass"
)

// NewMySQL returns a Connector that logs in to MySQL, MariaDB or Aurora MySQL through
// go-sql-driver/mysql with the credentials in secretID, read from src (usually a
// *cache.Cache). It is New with the MySQL Engine:
//
//	c := cache.New(secretsmanager.NewFromConfig(cfg))
//	defer c.Close()
//	db := sql.OpenDB(sqlconn.NewMySQL(c, "prod/app/db",
//		sqlconn.WithParams(map[string]string{"tls": "true", "parseTime": "true"})))
//	defer db.Close()
//
// The secret is the JSON AWS documents for database secrets (rotasafe.DBSecret): host, port,
// username, password, dbname.
func NewMySQL(src rotasafe.Source, secretID string, opts ...Option) *Connector {
	return New(src, secretID, MySQL{}, opts...)
}

// MySQL is the Engine for MySQL, MariaDB and Aurora MySQL through go-sql-driver/mysql
// (mysql.NewConnector). Its zero value is ready to use; NewMySQL uses it, and New takes one
// with SkipExpiredPasswordCheck set. It accepts secrets whose engine is "mysql", "mariadb",
// "aurora-mysql", "aurora" (Aurora MySQL 5.6) or empty (the caller chose MySQL); the port
// defaults to 3306 and an empty dbname means no default database. A host that starts with "/"
// is a unix socket path.
//
// Connector accepts go-sql-driver/mysql's DSN parameters (tls, timeout, readTimeout, charset,
// collation, loc, parseTime, interpolateParams, rejectReadOnly, ...) as plain values, escaped
// here. Any other name is a session variable the driver sets at each login (SET name = value:
// the value is SQL, so quote strings, as in "sql_mode": "'ANSI_QUOTES'"). host, port and
// dbname (or database) override the secret's. Refused: user, password and passwd (the
// credentials come from the secret); allowOldPasswords (its scramble exposes the password);
// allowCleartextPasswords unless TLS verifies the server (tls=true, or a config registered
// with mysql.RegisterTLSConfig that does not skip verification); strict (the driver panics on
// it). Without a tls parameter the driver does not use TLS: set tls=true in production. The
// password goes into the driver's configuration directly, never into a DSN string that an
// error could quote.
//
// The connector guards against expired passwords, unless SkipExpiredPasswordCheck is set: an
// account whose password has expired can still log in when the server runs with
// disconnect_on_expired_password off (MariaDB's default), and then fails every statement but
// SET with error 1820 (sandbox mode), so without the guard the pool would keep connections on
// which every query fails, even after the password is fixed. With it, Connect fails at once
// with a ClassOther error that says what to fix. go-sql-driver/mysql never announces the
// capability CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS, so a server with
// disconnect_on_expired_password on (MySQL's and Aurora MySQL's default) refuses such a login
// itself, at the handshake, with error 1862. The first login of each secret version therefore
// reads that setting (SELECT @@global.disconnect_on_expired_password, which fails with 1820
// when the password has expired): where it is on, later logins of the version cost nothing
// more. Where it is off or unknown, later logins run no statement either, but each
// connection watches the application's statements: the first that fails with 1820 returns
// an error that says the password has expired and wraps driver.ErrBadConn, so that
// database/sql retries on a new connection (the server ran nothing), whose login checks the
// password again and fails with that error. Ping runs "DO 1" until it passed once, since
// the server answers a ping in sandbox mode. A MariaDB server whose setting is turned off
// at run time, or another server behind the same address with it off, is noticed at the
// next version.
//
// Classify sorts by the server's error number (*mysql.MySQLError), never by message text:
//
//   - ClassAuth: 1045 (wrong or empty password, unknown user) and 1698 (an account that
//     authenticates another way, such as unix_socket, reached with a password).
//   - ClassTransient: 1040 (too many connections), 1203 and 1226 (the user's connection
//     limits), 1129 (host blocked after connection errors; FLUSH HOSTS clears it), 1053
//     (server shutting down), 1927 (connection killed, MariaDB), 3032 (offline mode, MySQL),
//     driver.ErrBadConn, mysql.ErrInvalidConn (the connection broke during the handshake),
//     refused or reset connections, EOFs and timeouts.
//   - ClassOther: everything else, among them 1044 (no privilege on the database), 4151 and
//     3118 (locked account, MariaDB and MySQL), 1820 and 1862 (expired password) and 1130
//     (host not allowed to connect). Connect wraps these in an error that says what to fix.
//
// One gap: a write that fails before any byte went out, right after the server's greeting,
// comes back as the driver's unexported "bad connection" error, which cannot be matched
// without reading its text, so it is ClassOther.
//
// The connector dials TCP and unix sockets itself (the driver's Config.DialFunc), so that a
// login's context ends it through the socket's deadline rather than a goroutine per login:
// a dialer registered with mysql.RegisterDialContext for "tcp" or "unix" is not used.
type MySQL struct {
	// SkipExpiredPasswordCheck leaves out the guard against expired passwords (a query on the
	// first login of each version and, where the server does not refuse expired passwords at
	// login, a wrapper on each connection that watches for error 1820), for accounts whose
	// passwords never expire.
	SkipExpiredPasswordCheck bool
}

var _ Engine = MySQL{}

// MySQL error numbers Classify and Connect know.
const (
	erAccessDenied         = 1045 // ER_ACCESS_DENIED_ERROR
	erAccessDeniedNoPass   = 1698 // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
	erDBAccessDenied       = 1044 // ER_DBACCESS_DENIED_ERROR
	erConCount             = 1040 // ER_CON_COUNT_ERROR
	erTooManyUserConns     = 1203 // ER_TOO_MANY_USER_CONNECTIONS
	erUserLimitReached     = 1226 // ER_USER_LIMIT_REACHED
	erHostIsBlocked        = 1129 // ER_HOST_IS_BLOCKED
	erHostNotPrivileged    = 1130 // ER_HOST_NOT_PRIVILEGED
	erServerShutdown       = 1053 // ER_SERVER_SHUTDOWN
	erConnectionKilled     = 1927 // ER_CONNECTION_KILLED (MariaDB)
	erServerOfflineMode    = 3032 // ER_SERVER_OFFLINE_MODE (MySQL)
	erAccountLockedMariaDB = 4151 // ER_ACCOUNT_HAS_BEEN_LOCKED (MariaDB)
	erAccountLockedMySQL   = 3118 // ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL)
	erMustChangePassword   = 1820 // ER_MUST_CHANGE_PASSWORD: sandbox mode, at the first statement
	erMustChangePwLogin    = 1862 // ER_MUST_CHANGE_PASSWORD_LOGIN: MySQL refuses the login
	erUnknownSystemVar     = 1193 // ER_UNKNOWN_SYSTEM_VARIABLE
)

// mysqlRawParams are the DSN parameters go-sql-driver/mysql reads without unescaping; the
// others it unescapes (url.QueryUnescape).
var mysqlRawParams = map[string]bool{
	"allowAllFiles": true, "allowCleartextPasswords": true, "allowFallbackToPlaintext": true,
	"allowNativePasswords": true, "allowOldPasswords": true, "charset": true, "checkConnLiveness": true,
	"clientFoundRows": true, "collation": true, "columnsWithAlias": true, "compress": true,
	"interpolateParams": true, "maxAllowedPacket": true, "multiStatements": true, "parseTime": true,
	"readTimeout": true, "rejectReadOnly": true, "timeTruncate": true, "timeout": true, "writeTimeout": true,
}

// mysqlParamName matches DSN parameter names and session variable names.
var mysqlParamName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Connector builds a go-sql-driver/mysql connector for the secret; see MySQL for the
// parameters it accepts.
func (m MySQL) Connector(s rotasafe.DBSecret, params map[string]string) (driver.Connector, error) {
	cfg, err := mysqlConfig(s, params)
	if err != nil {
		return nil, err
	}
	socketDeadline := cfg.ReadTimeout == 0 && cfg.WriteTimeout == 0
	if socketDeadline {
		cfg.DialFunc = dialHandshake
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		// The driver's configuration errors quote TLS or key names, never the password.
		return nil, fmt.Errorf("sqlconn: connection parameters for %s: %w", cfg.Addr, err)
	}
	return &mysqlConnector{conn: conn, user: s.Username, db: cfg.DBName, check: !m.SkipExpiredPasswordCheck,
		socketDeadline: socketDeadline}, nil
}

// mysqlConfig builds the driver's configuration: the parameters go through the driver's own
// DSN parser (without address or credentials), then the address, database and credentials
// are set on the parsed configuration.
func mysqlConfig(s rotasafe.DBSecret, params map[string]string) (*mysql.Config, error) {
	switch strings.ToLower(s.Engine) {
	case "", "mysql", "mariadb", "aurora-mysql", "aurora":
	default:
		return nil, fmt.Errorf("sqlconn: the secret's engine %q is not MySQL or MariaDB", s.Engine)
	}
	host, port, db := s.Host, "3306", s.DBName
	if s.Port != 0 {
		port = strconv.Itoa(s.Port)
	}
	var q strings.Builder
	for k, v := range params {
		switch k {
		case "user", "password", "passwd":
			return nil, fmt.Errorf("sqlconn: connection parameter %q is not allowed: the credentials come from the secret", k)
		case "strict":
			return nil, errors.New(`sqlconn: connection parameter "strict" was removed from go-sql-driver/mysql`)
		case "host":
			host = v
			continue
		case "port":
			port = v
			continue
		case "dbname", "database":
			db = v
			continue
		}
		if !mysqlParamName.MatchString(k) {
			return nil, fmt.Errorf("sqlconn: connection parameter name %q is neither a driver parameter nor a session variable", k)
		}
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString(k)
		q.WriteByte('=')
		if mysqlRawParams[k] {
			if strings.Contains(v, "&") {
				return nil, fmt.Errorf("sqlconn: connection parameter %q holds '&'", k)
			}
			q.WriteString(v)
		} else {
			q.WriteString(url.QueryEscape(v))
		}
	}
	if host == "" {
		return nil, errors.New("sqlconn: the secret has no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("sqlconn: port %q is not a TCP port number", port)
	}
	cfg, err := mysql.ParseDSN("/?" + q.String())
	if err != nil {
		// The string parsed holds the parameters only: no credentials to quote.
		return nil, fmt.Errorf("sqlconn: connection parameters: %w", err)
	}
	if strings.HasPrefix(host, "/") { // a unix socket
		cfg.Net, cfg.Addr = "unix", host
	} else {
		cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(host, port)
	}
	if cfg.AllowOldPasswords {
		return nil, errors.New("sqlconn: connection parameter allowOldPasswords is not allowed: the pre-4.1 scramble exposes the password")
	}
	verified := cfg.TLS != nil && !cfg.TLS.InsecureSkipVerify && !cfg.AllowFallbackToPlaintext
	if cfg.AllowCleartextPasswords && !verified {
		return nil, errors.New("sqlconn: connection parameter allowCleartextPasswords needs TLS that verifies the server (tls=true or a registered config that verifies)")
	}
	// ParseDSN built the TLS configuration for its default address: drop it so that
	// mysql.NewConnector builds it again with this address as the server name to verify.
	cfg.TLS = nil
	cfg.DBName = db
	cfg.User, cfg.Passwd = s.Username, s.Password
	return cfg, nil
}

// mysqlConnector is a go-sql-driver/mysql connector that checks each new connection for an
// expired password and explains the login failures that need someone to act.
type mysqlConnector struct {
	conn     driver.Connector
	user, db string
	check    bool // guard against expired passwords
	// socketDeadline: a login's context ends on the socket, not through the driver's
	// watcher goroutine (see login); the driver was built with dialHandshake.
	socketDeadline bool
	expiry         atomic.Int32 // what the guard learned of the server: expiryUnknown, expiryCheck or expiryRefused
}

// What a mysqlConnector knows of the server's handling of expired passwords.
const (
	expiryUnknown int32 = iota // not asked yet, or a statement met sandbox mode: read disconnect_on_expired_password
	expiryCheck                // the server lets expired passwords log in: watch each connection (expiryConn)
	expiryRefused              // the server refuses them at the handshake (1862): nothing to do
)

// Connect logs in, then makes sure the password has not expired (see MySQL).
func (c *mysqlConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.login(ctx)
	if err != nil {
		return nil, c.explain(err)
	}
	if !c.check {
		return conn, nil
	}
	switch c.expiry.Load() {
	case expiryRefused:
		return conn, nil
	case expiryCheck:
		if mc, ok := conn.(mysqlDriverConn); ok {
			return &expiryConn{mysqlDriverConn: mc, c: c}, nil
		}
		// A driver whose connection lacks a method expiryConn forwards: check now.
		err = mysqlDo1(ctx, conn)
	default:
		err = c.learn(ctx, conn)
	}
	if err != nil {
		conn.Close()
		return nil, c.explain(err)
	}
	return conn, nil
}

// learn asks the server whether it refuses logins with an expired password itself, which
// checks this login too: the query fails with 1820 in sandbox mode (and the connector asks
// again at its next login).
func (c *mysqlConnector) learn(ctx context.Context, conn driver.Conn) error {
	refuses, err := mysqlRefusesExpired(ctx, conn)
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok && me.Number == erUnknownSystemVar {
		// A server without the setting (MySQL before 5.6.10) lets expired passwords in.
		refuses, err = false, mysqlDo1(ctx, conn)
	}
	if err != nil {
		return err
	}
	if refuses {
		c.expiry.Store(expiryRefused)
	} else {
		c.expiry.Store(expiryCheck)
	}
	return nil
}

// mysqlDo1 runs "DO 1", the cheapest statement, which fails with 1820 in sandbox mode.
func mysqlDo1(ctx context.Context, conn driver.Conn) error {
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		return nil
	}
	_, err := ex.ExecContext(ctx, "DO 1", nil)
	return err
}

// mysqlRefusesExpired reads whether the server refuses a login with an expired password from
// a client that, like go-sql-driver/mysql, does not announce CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS.
// The query fails with 1820 in sandbox mode, so it is the check of this login too.
func mysqlRefusesExpired(ctx context.Context, conn driver.Conn) (bool, error) {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return false, mysqlDo1(ctx, conn)
	}
	rows, err := q.QueryContext(ctx, "SELECT @@global.disconnect_on_expired_password", nil)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	v := make([]driver.Value, 1)
	if err := rows.Next(v); err != nil {
		return false, err
	}
	// The driver converts the BIGINT the server sends; anything else counts as off.
	n, ok := v[0].(int64)
	return ok && n == 1, nil
}

// Driver returns go-sql-driver/mysql's driver.
func (c *mysqlConnector) Driver() driver.Driver { return c.conn.Driver() }

// explain wraps the server errors that other credentials or waiting will not fix in an error
// that says what to do. The result still unwraps to the *mysql.MySQLError.
func (c *mysqlConnector) explain(err error) error {
	me, ok := errors.AsType[*mysql.MySQLError](err)
	if !ok {
		return err
	}
	var why string
	switch me.Number {
	case erDBAccessDenied:
		why = fmt.Sprintf("user %q has no privilege on database %q: grant it one, or point the secret's dbname elsewhere", c.user, c.db)
	case erAccountLockedMariaDB, erAccountLockedMySQL:
		why = fmt.Sprintf("the account of user %q is locked: unlock it (ALTER USER ... ACCOUNT UNLOCK)", c.user)
	case erMustChangePassword, erMustChangePwLogin:
		why = fmt.Sprintf("the password of user %q has expired: the server only lets it change the password; rotate the secret, or set a password expiry policy the rotation schedule keeps ahead of (ALTER USER ... PASSWORD EXPIRE NEVER or INTERVAL)", c.user)
	case erAccessDeniedNoPass:
		why = fmt.Sprintf("user %q does not log in with a password (unix_socket, auth_socket or another plugin without one)", c.user)
	case erHostNotPrivileged:
		why = "no account may connect from this client's host"
	default:
		return err
	}
	return fmt.Errorf("sqlconn: %s: %w", why, err)
}

// Classify sorts a go-sql-driver/mysql connect error into ClassAuth, ClassTransient or
// ClassOther; see MySQL for the table.
func (MySQL) Classify(err error) rotasafe.Class {
	if err == nil {
		return rotasafe.ClassOther
	}
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		switch me.Number {
		case erAccessDenied, erAccessDeniedNoPass:
			return rotasafe.ClassAuth
		case erConCount, erTooManyUserConns, erUserLimitReached, erHostIsBlocked, erServerShutdown,
			erConnectionKilled, erServerOfflineMode:
			return rotasafe.ClassTransient
		}
		return rotasafe.ClassOther
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) {
		return rotasafe.ClassTransient
	}
	return netclass.Classify(err)
}

// Driver returns go-sql-driver/mysql's database/sql driver, which a *Connector returns from
// its own Driver method so that code inspecting db.Driver() sees it.
func (MySQL) Driver() driver.Driver { return &mysql.MySQLDriver{} }
