package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe/internal/scram"
)

// ConnString returns a postgres:// URL that connects to database db as user
// with password, on the cluster's host and port. User, password and database
// are URL-escaped, so any value is safe. For a cluster that pgtest started
// the URL carries sslmode=disable; for an external server it keeps the query
// parameters of ROTASAFE_PG_URL.
func (c *Cluster) ConnString(user, password, db string) string {
	u := *c.base
	u.User = url.UserPassword(user, password)
	u.Path = "/" + db
	u.RawPath = ""
	return u.String()
}

// UniqueName returns prefix followed by an underscore and 12 random lowercase
// hex digits, for example "app_3f9c0a1b2c4d". Tests use it for role and
// database names so that they do not collide on a shared external server
// (ROTASAFE_PG_URL) or with each other. PostgreSQL truncates identifiers
// longer than 63 bytes, so keep prefix under 50 bytes.
func UniqueName(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// Exec runs sql as the superuser in the postgres database, on a connection
// of its own.
func (c *Cluster) Exec(ctx context.Context, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, c.secret.dsn)
	if err != nil {
		return fmt.Errorf("pgtest: connect as superuser: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("pgtest: exec: %w", err)
	}
	return nil
}

// roleAttr matches the role attributes CreateRole accepts besides LOGIN.
var roleAttr = regexp.MustCompile(`^(?i:(NO)?(SUPERUSER|CREATEDB|CREATEROLE|INHERIT|LOGIN|REPLICATION|BYPASSRLS)|CONNECTION LIMIT -?[0-9]+)$`)

// CreateRole creates a role that can log in with password. attrs are further
// role attributes such as "CREATEDB", "CREATEROLE", "SUPERUSER" or
// "CONNECTION LIMIT 5"; anything else is rejected.
//
// The password never reaches the server: CreateRole sends a SCRAM-SHA-256
// verifier computed here (RFC 5802, RFC 7677), so neither the server log nor
// pg_stat_activity ever shows it. The password must be ASCII, for which
// PostgreSQL's SASLprep is the identity.
func (c *Cluster) CreateRole(ctx context.Context, name, password string, attrs ...string) error {
	if name == "" {
		return errors.New("pgtest: CreateRole: empty role name")
	}
	for _, a := range attrs {
		if !roleAttr.MatchString(a) {
			return fmt.Errorf("pgtest: CreateRole %s: unsupported role attribute %q", name, a)
		}
	}
	verifier, err := scram.New(password)
	if err != nil {
		return fmt.Errorf("pgtest: CreateRole %s: %w", name, err)
	}
	conn, err := pgx.Connect(ctx, c.secret.dsn)
	if err != nil {
		return fmt.Errorf("pgtest: CreateRole %s: connect as superuser: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	lit, err := conn.PgConn().EscapeString(verifier)
	if err != nil {
		return fmt.Errorf("pgtest: CreateRole %s: %w", name, err)
	}
	sql := "CREATE ROLE " + pgx.Identifier{name}.Sanitize() + " LOGIN"
	if len(attrs) > 0 {
		sql += " " + strings.Join(attrs, " ")
	}
	sql += " PASSWORD '" + lit + "'"
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: CreateRole %s: %w", name, err)
	}
	return nil
}

// CreateDatabase creates database name owned by owner, or by the superuser
// when owner is empty.
func (c *Cluster) CreateDatabase(ctx context.Context, name, owner string) error {
	if name == "" {
		return errors.New("pgtest: CreateDatabase: empty database name")
	}
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if owner != "" {
		sql += " OWNER " + pgx.Identifier{owner}.Sanitize()
	}
	if err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: CreateDatabase %s: %w", name, err)
	}
	return nil
}
