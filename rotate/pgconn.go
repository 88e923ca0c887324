package rotate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/scram"
)

// errRedshift is the cause when a PostgreSQL strategy is given a Redshift secret. Redshift
// speaks PostgreSQL's protocol, but its ALTER USER ... PASSWORD takes a plaintext, MD5 or
// salted SHA-256 password, not the SCRAM-SHA-256 verifier these strategies send so that no
// plaintext password ever reaches the server.
var errRedshift = errors.New("the secret is for Redshift, which does not take SCRAM-SHA-256 verifiers, and rotate never sends a plaintext password; rotate Redshift secrets with AWS's Redshift rotation function")

// db is the secret's fields.
func (s dbSecret) db() rotasafe.DBSecret { return s.DBSecret }

// addr is host:port for messages.
func (s dbSecret) addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.PortOrDefault()))
}

// sslModeOf reads the libpq sslmode a secret asks for: its "sslmode" field, else its "ssl"
// field (true: verify-full, false: disable), else "" (the default).
func sslModeOf(raw string) TLSMode {
	var f struct {
		SSLMode string          `json:"sslmode"`
		SSL     json.RawMessage `json:"ssl"`
	}
	if json.Unmarshal([]byte(raw), &f) != nil {
		return TLSPreferVerified
	}
	switch m := TLSMode(strings.ToLower(f.SSLMode)); m {
	case TLSDisable, TLSPrefer, TLSRequire, TLSVerifyCA, TLSVerifyFull:
		return m
	case "allow":
		return TLSPrefer
	}
	switch strings.Trim(strings.ToLower(string(f.SSL)), `"`) {
	case "true", "1":
		return TLSVerifyFull
	case "false", "0":
		return TLSDisable
	}
	return TLSPreferVerified
}

// kv quotes a value for a libpq keyword/value connection string.
func kv(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// connect logs in to the database the secret names, as its user, with its password. The
// error names the user and the address, never the password.
func (p *pgStrategy) connect(ctx context.Context, s dbSecret) (*pgx.Conn, error) {
	if err := p.before(ctx, nil, "connect "+s.Username); err != nil {
		return nil, err
	}
	mode := p.cfg.tls
	if mode == TLSFromSecret {
		mode = sslModeOf(s.raw)
	}
	sslmode := string(mode)
	if mode == TLSPreferVerified {
		sslmode = string(TLSVerifyFull)
	}
	connStr := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=%s",
		kv(s.Host), s.PortOrDefault(), kv(s.Username), kv(s.DBNameOrDefault()), sslmode)
	cfg, err := pgx.ParseConfig(connStr)
	if err != nil {
		return nil, fmt.Errorf("connection settings for %s as %s: %w", s.addr(), s.Username, err)
	}
	cfg.Password = s.Password
	cfg.ConnectTimeout = p.cfg.connectTimeout
	cfg.RuntimeParams["application_name"] = "rotasafe-rotate"
	if mode == TLSPreferVerified {
		cfg.Fallbacks = append(cfg.Fallbacks, &pgconn.FallbackConfig{Host: cfg.Host, Port: cfg.Port})
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("log in to %s as %s: %w", s.addr(), s.Username, err)
	}
	return conn, nil
}

// before runs the test seam, if any.
func (p *pgStrategy) before(ctx context.Context, conn *pgx.Conn, op string) error {
	if p.cfg.hook == nil {
		return nil
	}
	return p.cfg.hook(ctx, conn, op)
}

// querier is what exec and queryBool run on: a connection or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (p *pgStrategy) exec(ctx context.Context, conn *pgx.Conn, q querier, sql string, args ...any) error {
	if err := p.before(ctx, conn, sql); err != nil {
		return err
	}
	_, err := q.Exec(ctx, sql, args...)
	return err
}

func (p *pgStrategy) queryBool(ctx context.Context, conn *pgx.Conn, q querier, sql string, args ...any) (bool, error) {
	if err := p.before(ctx, conn, sql); err != nil {
		return false, err
	}
	var b bool
	err := q.QueryRow(ctx, sql, args...).Scan(&b)
	return b, err
}

// holdsPassword reports whether role's stored SCRAM verifier is one of password, read from
// pg_authid. Only a superuser may read it (RDS's master user may not): any failure, or a
// verifier of another kind, answers false, so the caller sets the password again. Nothing
// read reaches an error or a log.
func (p *pgStrategy) holdsPassword(ctx context.Context, conn *pgx.Conn, role, password string) bool {
	const q = "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1"
	if err := p.before(ctx, conn, q); err != nil {
		return false
	}
	var stored *string
	if err := conn.QueryRow(ctx, q, role).Scan(&stored); err != nil || stored == nil {
		return false
	}
	return scram.Holds(*stored, password)
}

// setPassword changes role's password to the verifier of password. ALTER ROLE takes no query
// parameters: the role is quoted by pgx, and the verifier is checked to hold nothing but
// base64 and separators before it is spliced in as a literal.
func (p *pgStrategy) setPassword(ctx context.Context, conn *pgx.Conn, q querier, role, password string) error {
	v, err := scram.New(password)
	if err != nil {
		return fmt.Errorf("rotate: SCRAM verifier: %w", err)
	}
	lit, err := verifierLiteral(v)
	if err != nil {
		return err
	}
	if err := p.exec(ctx, conn, q, "ALTER ROLE "+pgx.Identifier{role}.Sanitize()+" WITH PASSWORD "+lit); err != nil {
		return fmt.Errorf("change the password of %s: %w", role, err)
	}
	return nil
}

// closeConn closes conn, also when ctx is done, waiting at most a second.
func closeConn(ctx context.Context, conn *pgx.Conn) {
	if conn != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	}
}

// errNoLogin is the cause when no known password logs in.
var errNoLogin = errors.New("no password logs in")
