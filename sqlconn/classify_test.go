package sqlconn_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// wrapped nests err the way connect paths do: inside fmt wrapping, errors.Join and a
// custom Unwrap chain.
func wrapped(err error) error {
	return fmt.Errorf("outer: %w", errors.Join(errors.New("first host: refused"), &chain{fmt.Errorf("mid: %w", err)}))
}

type chain struct{ err error }

func (c *chain) Error() string { return "chain: " + c.err.Error() }
func (c *chain) Unwrap() error { return c.err }

func TestPostgresClassify(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return &pgconn.PgError{Severity: "FATAL", Code: code, Message: "msg"} }
	tests := []classCase{
		{"28P01 invalid password", pg("28P01"), rotasafe.ClassAuth},
		{"28000 RDS Proxy / pg_hba", pg("28000"), rotasafe.ClassAuth},
		{"28P01 nested in join and chain", wrapped(pg("28P01")), rotasafe.ClassAuth},
		{"too many connections", pg("53300"), rotasafe.ClassTransient},
		{"admin shutdown", pg("57P01"), rotasafe.ClassTransient},
		{"cannot connect now", wrapped(pg("57P03")), rotasafe.ClassTransient},
		{"connection failure", pg("08006"), rotasafe.ClassTransient},
		{"protocol violation", pg("08P01"), rotasafe.ClassOther},
		{"database does not exist", pg("3D000"), rotasafe.ClassOther},
		{"insufficient privilege", pg("42501"), rotasafe.ClassOther},
		{"password text without a code is not auth", errors.New(`FATAL: password authentication failed for user "app"`), rotasafe.ClassOther},
	}
	testClassify(t, sqlconn.Postgres{}, tests)
}

// classCase is an error and the class an Engine's Classify must give it.
type classCase struct {
	name string
	err  error
	want rotasafe.Class
}

// netClassCases are the errors that are not the server's, which every Engine sorts alike.
var netClassCases = []classCase{
	{"connection refused", wrapped(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), rotasafe.ClassTransient},
	{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), rotasafe.ClassTransient},
	{"EOF during startup", fmt.Errorf("receive message failed: %w", io.ErrUnexpectedEOF), rotasafe.ClassTransient},
	{"unexpected EOF", io.ErrUnexpectedEOF, rotasafe.ClassTransient},
	{"plain EOF", wrapped(io.EOF), rotasafe.ClassTransient},
	{"attempt deadline", fmt.Errorf("dial: %w", context.DeadlineExceeded), rotasafe.ClassTransient},
	{"caller cancelled", fmt.Errorf("dial: %w", context.Canceled), rotasafe.ClassOther},
	{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}, rotasafe.ClassTransient},
	{"dns timeout", &net.DNSError{Err: "timeout", Name: "db", IsTimeout: true}, rotasafe.ClassTransient},
	{"dns no such host", &net.DNSError{Err: "no such host", Name: "db", IsNotFound: true}, rotasafe.ClassOther},
	{"nil", nil, rotasafe.ClassOther},
	{"anything else", errors.New("tls: bad certificate"), rotasafe.ClassOther},
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// testClassify checks engine's Classify on its own cases and on netClassCases.
func testClassify(t *testing.T, engine sqlconn.Engine, cases []classCase) {
	for _, tt := range append(cases, netClassCases...) {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := engine.Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestPostgresConnectorParams(t *testing.T) {
	t.Parallel()
	const pw = "Sup3r-s3cret:/@?pw"
	s := rotasafe.DBSecret{Engine: "postgres", Host: "db.internal", Username: "app", Password: pw}
	tests := []struct {
		name    string
		params  map[string]string
		wantErr string
	}{
		{name: "no params"},
		{name: "pgx params", params: map[string]string{"sslmode": "disable", "application_name": "orders", "connect_timeout": "3"}},
		{name: "host override", params: map[string]string{"host": "proxy.internal", "port": "6432", "dbname": "orders"}},
		{name: "password refused", params: map[string]string{"password": "x"}, wantErr: `parameter "password" is not allowed`},
		{name: "user refused", params: map[string]string{"user": "root"}, wantErr: `parameter "user" is not allowed`},
		{name: "bad sslmode", params: map[string]string{"sslmode": "sometimes"}, wantErr: "connection parameters for db.internal port 5432"},
		{name: "unix socket", params: map[string]string{"host": "/var/run/postgresql"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := (sqlconn.Postgres{}).Connector(s, tt.params)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("got %v, %v; want a connector", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), pw) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestPostgresConnectorEngine(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"", "postgres", "aurora-postgresql", "redshift"} {
		if _, err := (sqlconn.Postgres{}).Connector(rotasafe.DBSecret{Engine: engine, Host: "h", Username: "u", Password: "p"}, nil); err != nil {
			t.Errorf("engine %q: %v", engine, err)
		}
	}
	_, err := (sqlconn.Postgres{}).Connector(rotasafe.DBSecret{Engine: "mysql", Host: "h", Username: "u", Password: "p"}, nil)
	if err == nil || !strings.Contains(err.Error(), `engine "mysql" is not PostgreSQL`) {
		t.Errorf("engine mysql: got %v, want an error naming the engine", err)
	}
}

func TestConnectErrorMessage(t *testing.T) {
	t.Parallel()
	authErr := &pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: `password authentication failed for user "app"`}
	e := &rotasafe.ConnectError{
		Client:   "sqlconn",
		SecretID: "prod/db",
		Attempts: []rotasafe.Attempt{
			{VersionID: "v1", Stage: rotasafe.StageCurrent, Class: rotasafe.ClassAuth, Err: authErr},
			{VersionID: "v2", Stage: rotasafe.StagePending, Class: rotasafe.ClassAuth, Err: authErr},
			{VersionID: "v1", Stage: rotasafe.StageCurrent, Class: rotasafe.ClassTransient, Err: syscall.ECONNREFUSED},
		},
		Total: 5,
		Err:   fmt.Errorf("gave up: %w", authErr),
	}
	want := `sqlconn: connect with secret "prod/db" failed after 5 logins ` +
		`(version v1 AWSCURRENT: 1 auth 1 transient; version v2 AWSPENDING: 1 auth; and 2 earlier): ` +
		`gave up: FATAL: password authentication failed for user "app" (SQLSTATE 28P01)`
	for _, verb := range []string{"%v", "%s", "%+v", "%#v"} {
		if got := fmt.Sprintf(verb, e); got != want {
			t.Errorf("Sprintf(%s):\ngot  %s\nwant %s", verb, got, want)
		}
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](e); !ok || pgErr.Code != "28P01" {
		t.Errorf("errors.As(*pgconn.PgError) = %v, %v; want the 28P01 error", pgErr, ok)
	}
	none := &rotasafe.ConnectError{Client: "sqlconn", SecretID: "prod/db", Err: errors.New("cache: closed")}
	if got, want := none.Error(), `sqlconn: connect with secret "prod/db" failed before any login: cache: closed`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
