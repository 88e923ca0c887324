package pgclass

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotasafe/rotasafe"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return &pgconn.PgError{Severity: "FATAL", Code: code, Message: "msg"} }
	nested := func(err error) error {
		return fmt.Errorf("outer: %w", errors.Join(errors.New("first host: refused"), fmt.Errorf("mid: %w", err)))
	}
	tests := []struct {
		name string
		err  error
		want rotasafe.Class
	}{
		{"28P01 invalid password", pg("28P01"), rotasafe.ClassAuth},
		{"28000 pg_hba or RDS Proxy", nested(pg("28000")), rotasafe.ClassAuth},
		{"too many connections", pg("53300"), rotasafe.ClassTransient},
		{"cannot connect now", nested(pg("57P03")), rotasafe.ClassTransient},
		{"database does not exist", pg("3D000"), rotasafe.ClassOther},
		{"connection refused", nested(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), rotasafe.ClassTransient},
		{"EOF during startup", fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), rotasafe.ClassTransient},
		{"deadline", fmt.Errorf("dial: %w", context.DeadlineExceeded), rotasafe.ClassTransient},
		{"cancelled", fmt.Errorf("dial: %w", context.Canceled), rotasafe.ClassOther},
		{"dns timeout", &net.DNSError{Err: "timeout", Name: "db", IsTimeout: true}, rotasafe.ClassTransient},
		{"dns no such host", &net.DNSError{Err: "no such host", Name: "db", IsNotFound: true}, rotasafe.ClassOther},
		{"message text only", errors.New(`FATAL: password authentication failed for user "app"`), rotasafe.ClassOther},
		{"nil", nil, rotasafe.ClassOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestEngine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		engine string
		want   bool
	}{{"", true}, {"postgres", true}, {"PostgreSQL", true}, {"aurora-postgresql", true}, {"redshift", true}, {"mysql", false}, {"aurora-mysql", false}} {
		if got := Engine(tt.engine); got != tt.want {
			t.Errorf("Engine(%q) = %v, want %v", tt.engine, got, tt.want)
		}
	}
}
