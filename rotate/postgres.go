package rotate

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// maxIdentifier is PostgreSQL's identifier limit in bytes (NAMEDATALEN - 1).
const maxIdentifier = 63

// pgStrategy implements both PostgreSQL scenarios.
type pgStrategy struct {
	cfg         dbConfig
	alternating bool
}

// PostgresSingleUser rotates the password of one PostgreSQL user, as AWS's
// SecretsManagerRDSPostgreSQLRotationSingleUser template does (scenario 1):
//
//   - Create copies AWSCURRENT with a new password.
//   - Set logs in as the user with the AWSCURRENT password; only when that fails does it try
//     the pending one (a replayed step: nothing to do), then the AWSPREVIOUS one; then it
//     changes the user's password (ALTER ROLE ... PASSWORD with a SCRAM verifier: the plaintext never reaches
//     the server). Current and pending must name the same user and host. With
//     WithAdminSecret, the user named by the secret's masterarn makes the change instead.
//   - Test logs in with the pending password.
//
// Between setSecret and finishSecret only AWSPENDING logs in; applications that read the
// secret must fall back to it (package sqlconn does), or use PostgresAlternatingUsers.
//
// Options: WithTLSMode, WithConnectTimeout, WithAdminSecret. Passwords follow the handler's
// password options.
func PostgresSingleUser(opts ...DBOption) Strategy {
	return &pgStrategy{cfg: newDBConfig("PostgresSingleUser", false, opts)}
}

// PostgresAlternatingUsers rotates between two PostgreSQL users, the secret's user and a clone
// named with a suffix ("_clone" by default, WithCloneSuffix), as AWS's
// SecretsManagerRDSPostgreSQLRotationMultiUser template does (scenario 2), so that the
// AWSCURRENT credentials keep working throughout a rotation:
//
//   - Create copies AWSCURRENT with the other username and a new password.
//   - Set logs in with AWSCURRENT first (so a secret cannot be pointed at a user it does not
//     own), then, as the superuser whose secret the masterarn field names (read through the
//     same API), creates the clone when it is missing and sets the pending user's password,
//     in one transaction (idempotent: it never logs in with the pending password to find out
//     whether it has work to do, so a rotation makes no failed login).
//   - Test logs in with the pending password.
//
// The clone is a member of the original role and its sessions run as that role (ALTER ROLE
// clone SET role = 'original'), so it has the original's rights and memberships, and whatever
// either user creates is owned by the original role and usable by both: the gap that AWS's
// template leaves open (aws-secrets-manager-rotation-lambdas issues #38, #56, #175).
//
// Options: WithTLSMode, WithConnectTimeout, WithCloneSuffix. Passwords follow the handler's
// password options.
func PostgresAlternatingUsers(opts ...DBOption) Strategy {
	return &pgStrategy{cfg: newDBConfig("PostgresAlternatingUsers", true, opts), alternating: true}
}

// Create derives the pending secret from AWSCURRENT.
func (p *pgStrategy) Create(ctx context.Context, sc *StepContext) (string, error) {
	var other func(dbSecret) (string, error)
	if p.alternating {
		other = func(cur dbSecret) (string, error) { return p.alternate(ctx, sc, cur.Username) }
	}
	return createPending(ctx, sc, parsePG, p.alternating || p.cfg.throughAdmin, other)
}

// cloneName returns the clone of user: user with the suffix, cut (at a character boundary)
// to fit PostgreSQL's 63-byte limit.
func (p *pgStrategy) cloneName(user string) string {
	suffix := p.cfg.cloneSuffix
	if len(user)+len(suffix) > maxIdentifier {
		user = user[:maxIdentifier-len(suffix)]
		for len(user) > 0 { // drop the bytes of a character the cut split
			if r, size := utf8.DecodeLastRuneInString(user); r != utf8.RuneError || size != 1 {
				break
			}
			user = user[:len(user)-1]
		}
	}
	return user + suffix
}

// alternate returns the other user of the pair: the clone of an original, the original of a
// clone. A clone whose original was cut to fit 63 bytes cannot be undone by removing the
// suffix; then the original is the AWSPREVIOUS user, whose clone it is.
func (p *pgStrategy) alternate(ctx context.Context, sc *StepContext, user string) (string, error) {
	return alternateUser(ctx, sc, parsePG, user, p.cfg.cloneSuffix, len(user) >= maxIdentifier-utf8.UTFMax,
		func(u string) (string, error) { return p.cloneName(u), nil })
}

// Set makes the database accept the pending password.
func (p *pgStrategy) Set(ctx context.Context, sc *StepContext) error {
	cur, pend, err := currentAndPending(sc, parsePG)
	if err != nil {
		return err
	}
	if p.alternating {
		return p.setAlternating(ctx, sc, cur, pend)
	}
	return p.setSingle(ctx, sc, cur, pend)
}

func (p *pgStrategy) setSingle(ctx context.Context, sc *StepContext, cur, pend dbSecret) error {
	if pend.Username != cur.Username {
		return fmt.Errorf("AWSPENDING names user %s, AWSCURRENT %s; single-user rotation keeps the user", pend.Username, cur.Username)
	}
	conn, ok, err := loginCurrentOrPrevious(ctx, sc, parsePG, cur, pend, p.connect, func(c *pgx.Conn) { closeConn(ctx, c) })
	if err != nil || !ok {
		return err
	}
	defer func() { closeConn(ctx, conn) }()
	if p.cfg.throughAdmin {
		closeConn(ctx, conn)
		if conn, err = p.connectAdmin(ctx, sc, cur); err != nil {
			return err
		}
	}
	return p.setPassword(ctx, conn, conn, pend.Username, pend.Password)
}

// connectAdmin logs in as the user of the secret that cur's masterarn names, on cur's server.
func (p *pgStrategy) connectAdmin(ctx context.Context, sc *StepContext, cur dbSecret) (*pgx.Conn, error) {
	admin, err := adminSecret(ctx, sc, parsePG, cur)
	if err != nil {
		return nil, err
	}
	return p.connect(ctx, admin)
}

func (p *pgStrategy) setAlternating(ctx context.Context, sc *StepContext, cur, pend dbSecret) error {
	var orig, clone string
	switch {
	case pend.Username == p.cloneName(cur.Username):
		orig, clone = cur.Username, pend.Username
	case cur.Username == p.cloneName(pend.Username):
		orig, clone = pend.Username, cur.Username
	default:
		return fmt.Errorf("AWSPENDING names user %s, which is not the alternate of the AWSCURRENT user %s", pend.Username, cur.Username)
	}
	// The confused-deputy guard: only the owner of the current credentials may rotate.
	conn, err := p.connect(ctx, cur)
	if err != nil {
		return fmt.Errorf("the AWSCURRENT credentials must log in before the superuser acts: %w", err)
	}
	closeConn(ctx, conn)
	// No login with the pending password to see whether a replayed step has nothing to do:
	// in an ordinary rotation it fails, and lockout counters and failed-login alerts would
	// see it. The stored verifier says so instead where the admin may read it; elsewhere the
	// transaction below runs again, which sets the same password with a fresh salt.
	admin, err := p.connectAdmin(ctx, sc, cur)
	if err != nil {
		return err
	}
	defer closeConn(ctx, admin)
	if p.holdsPassword(ctx, admin, pend.Username, pend.Password) {
		return nil
	}
	if err := p.before(ctx, admin, "BEGIN"); err != nil {
		return err
	}
	tx, err := admin.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { // after Commit a no-op; otherwise bounded like closeConn
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	if pend.Username == clone {
		err = p.ensureClone(ctx, admin, tx, orig, clone)
	} else {
		err = p.checkClone(ctx, admin, tx, orig, clone)
	}
	if err != nil {
		return err
	}
	if err := p.setPassword(ctx, admin, tx, pend.Username, pend.Password); err != nil {
		return err
	}
	if err := p.before(ctx, admin, "COMMIT"); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ensureClone creates clone as a member of orig when it is missing, and makes its sessions run
// as orig, so that objects either user creates are owned by orig.
func (p *pgStrategy) ensureClone(ctx context.Context, conn *pgx.Conn, tx pgx.Tx, orig, clone string) error {
	exists, err := p.queryBool(ctx, conn, tx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", clone)
	if err != nil {
		return fmt.Errorf("look up role %s: %w", clone, err)
	}
	if exists {
		// An existing role must already be the clone (a member of orig): a role that only
		// happens to have the clone's name is not the secret's to take over.
		if err := p.checkClone(ctx, conn, tx, orig, clone); err != nil {
			return err
		}
	} else {
		if err := p.exec(ctx, conn, tx, "CREATE ROLE "+pgx.Identifier{clone}.Sanitize()+" WITH LOGIN"); err != nil {
			return fmt.Errorf("create role %s: %w", clone, err)
		}
		if err := p.exec(ctx, conn, tx, "GRANT "+pgx.Identifier{orig}.Sanitize()+" TO "+pgx.Identifier{clone}.Sanitize()); err != nil {
			return fmt.Errorf("grant %s to %s: %w", orig, clone, err)
		}
	}
	lit, err := conn.PgConn().EscapeString(orig)
	if err != nil {
		return fmt.Errorf("quote role name %s: %w", orig, err)
	}
	if err := p.exec(ctx, conn, tx, "ALTER ROLE "+pgx.Identifier{clone}.Sanitize()+" SET role = '"+lit+"'"); err != nil {
		return fmt.Errorf("make sessions of %s run as %s: %w", clone, orig, err)
	}
	return nil
}

// errNotClone is the cause when the two users of an alternating secret are not a clone pair.
var errNotClone = errors.New("not a member of the original role, so not its clone")

// checkClone makes sure clone is a member of orig: the secret of one user of the pair may
// rotate the other only if they are the pair rotate (or AWS's template) made, never two
// unrelated roles whose names happen to differ by the suffix.
func (p *pgStrategy) checkClone(ctx context.Context, conn *pgx.Conn, tx pgx.Tx, orig, clone string) error {
	member, err := p.queryBool(ctx, conn, tx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
		JOIN pg_catalog.pg_roles r ON r.oid = m.roleid JOIN pg_catalog.pg_roles u ON u.oid = m.member
		WHERE r.rolname = $1 AND u.rolname = $2)`, orig, clone)
	if err != nil {
		return fmt.Errorf("look up the membership of %s in %s: %w", clone, orig, err)
	}
	if !member {
		return fmt.Errorf("role %s is %w %s; refusing to change passwords", clone, errNotClone, orig)
	}
	return nil
}

// Test logs in with the pending credentials and runs a query.
func (p *pgStrategy) Test(ctx context.Context, sc *StepContext) error {
	pend, err := parsePG(sc.Pending, "AWSPENDING")
	if err != nil {
		return err
	}
	conn, err := p.connect(ctx, pend)
	if err != nil {
		return fmt.Errorf("the pending credentials: %w", err)
	}
	defer closeConn(ctx, conn)
	if err := p.exec(ctx, conn, conn, "SELECT 1"); err != nil {
		return fmt.Errorf("query as %s with the pending credentials: %w", pend.Username, err)
	}
	return nil
}
