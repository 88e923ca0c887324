package sqlconn

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/go-sql-driver/mysql"
)

// mysqlDriverConn is every method of go-sql-driver/mysql's connection: driver.Conn and the
// optional interfaces database/sql looks for. expiryConn implements the same set, so that
// database/sql treats the wrapped connection exactly as the driver's own.
type mysqlDriverConn interface {
	driver.Conn
	//lint:ignore SA1019 the driver implements it (database/sql prefers ExecerContext)
	driver.Execer
	//lint:ignore SA1019 the driver implements it (database/sql prefers QueryerContext)
	driver.Queryer
	driver.ExecerContext
	driver.QueryerContext
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.Pinger
	driver.NamedValueChecker
	driver.SessionResetter
	driver.Validator
}

// expiryConn is a connection to a server that lets a login with an expired password in, in
// sandbox mode, where every statement but SET fails with error 1820 (MariaDB's default).
// Instead of a statement after each login, it watches the statements the application runs:
// the first that fails with 1820 says the password has expired. It returns an error that
// explains that and wraps driver.ErrBadConn, so that database/sql drops the connection and
// retries on a new one, and it makes the connector check the password again at its next
// login, which then fails with the same explanation. Retrying is safe: in sandbox mode the
// server refuses the statement before running it.
//
// Ping runs "DO 1" until a check passed, since the server answers COM_PING in sandbox mode,
// so a health check sees an expired password too. A connection is used by one goroutine at
// a time (database/sql's contract), which guards checked.
type expiryConn struct {
	mysqlDriverConn
	c       *mysqlConnector
	checked bool // a Ping's DO 1 passed: the session is not in sandbox mode
}

// expired returns err, or when it is error 1820 (sandbox mode) an error that explains it and
// wraps driver.ErrBadConn, after marking the connector to check its next login.
func (e *expiryConn) expired(err error) error {
	if me, ok := errors.AsType[*mysql.MySQLError](err); !ok || me.Number != erMustChangePassword {
		return err
	}
	e.c.expiry.CompareAndSwap(expiryCheck, expiryUnknown)
	return &badConnError{err: e.c.explain(err)}
}

// badConnError is an error that also matches driver.ErrBadConn.
type badConnError struct{ err error }

func (e *badConnError) Error() string   { return e.err.Error() }
func (e *badConnError) Unwrap() []error { return []error{e.err, driver.ErrBadConn} }

func (e *expiryConn) Prepare(query string) (driver.Stmt, error) {
	s, err := e.mysqlDriverConn.Prepare(query)
	return s, e.expired(err)
}

func (e *expiryConn) Begin() (driver.Tx, error) {
	tx, err := e.mysqlDriverConn.Begin()
	return tx, e.expired(err)
}

func (e *expiryConn) Exec(query string, args []driver.Value) (driver.Result, error) {
	r, err := e.mysqlDriverConn.Exec(query, args)
	return r, e.expired(err)
}

func (e *expiryConn) Query(query string, args []driver.Value) (driver.Rows, error) {
	r, err := e.mysqlDriverConn.Query(query, args)
	return r, e.expired(err)
}

func (e *expiryConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	r, err := e.mysqlDriverConn.ExecContext(ctx, query, args)
	return r, e.expired(err)
}

func (e *expiryConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := e.mysqlDriverConn.QueryContext(ctx, query, args)
	return r, e.expired(err)
}

func (e *expiryConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := e.mysqlDriverConn.PrepareContext(ctx, query)
	return s, e.expired(err)
}

func (e *expiryConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := e.mysqlDriverConn.BeginTx(ctx, opts)
	return tx, e.expired(err)
}

// Ping runs "DO 1" until one passed, then the driver's COM_PING, which the server answers
// in sandbox mode too.
func (e *expiryConn) Ping(ctx context.Context) error {
	if e.checked {
		return e.mysqlDriverConn.Ping(ctx)
	}
	if _, err := e.mysqlDriverConn.ExecContext(ctx, "DO 1", nil); err != nil {
		return e.expired(err)
	}
	e.checked = true
	return nil
}
