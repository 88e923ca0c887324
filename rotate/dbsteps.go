package rotate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rotasafe/rotasafe"
)

// The steps the PostgreSQL and MySQL strategies share, written once over the engine's secret
// type: what differs (how a secret parses, how a clone is named) is passed in.

// dbSecret is a parsed PostgreSQL secret and mySecret a MySQL or MariaDB one, with the raw
// JSON they came from (for "sslmode" and "ssl").
type (
	dbSecret struct {
		rotasafe.DBSecret
		raw string
	}
	mySecret struct {
		rotasafe.DBSecret
		raw string
	}
)

// parsePG reads a version as a PostgreSQL database secret. what names the version in errors
// ("AWSCURRENT", "the masterarn secret", ...).
func parsePG(v rotasafe.Version, what string) (dbSecret, error) {
	return parseAs[dbSecret](v, what, checkPGEngine)
}

// checkPGEngine refuses a secret whose engine is not PostgreSQL.
func checkPGEngine(s rotasafe.DBSecret) error {
	switch strings.ToLower(s.Engine) {
	case "", "postgres", "postgresql", "aurora-postgresql":
		return nil
	case "redshift":
		return fmt.Errorf("engine %q: %w", s.Engine, errRedshift)
	}
	return fmt.Errorf("engine %q is not PostgreSQL (postgres, aurora-postgresql)", s.Engine)
}

// parseMySQL reads a version as a MySQL or MariaDB database secret. what names the version
// in errors ("AWSCURRENT", "the masterarn secret", ...).
func parseMySQL(v rotasafe.Version, what string) (mySecret, error) {
	return parseAs[mySecret](v, what, checkMySQLSecret)
}

// checkMySQLSecret refuses a secret whose engine is not MySQL's or whose user name the
// statements could not carry.
func checkMySQLSecret(s rotasafe.DBSecret) error {
	switch strings.ToLower(s.Engine) {
	case "", "mysql", "mariadb", "aurora-mysql", "aurora":
		return checkName("user name", s.Username)
	}
	return fmt.Errorf("engine %q is not mysql, mariadb or aurora-mysql", s.Engine)
}

// engineSecret is a parsed database secret of one engine: dbSecret or mySecret.
type engineSecret interface {
	db() rotasafe.DBSecret
	addr() string // host:port with the engine's default port
}

// parseFunc reads a version as an engine's secret; what names the version in errors.
type parseFunc[S engineSecret] func(v rotasafe.Version, what string) (S, error)

// parseDBSecret reads v as a database secret and lets check refuse it (an engine it does not
// serve, a name it cannot use). what names the version in errors ("AWSCURRENT", "the
// masterarn secret", ...).
func parseDBSecret(v rotasafe.Version, what string, check func(rotasafe.DBSecret) error) (rotasafe.DBSecret, error) {
	if v.SecretString == "" {
		return rotasafe.DBSecret{}, fmt.Errorf("%s has no SecretString", what)
	}
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err == nil {
		err = check(s)
	}
	if err != nil {
		return rotasafe.DBSecret{}, fmt.Errorf("%s: %w", what, err)
	}
	return s, nil
}

// parseAs reads v as an engine's secret: parseDBSecret, keeping the raw JSON.
func parseAs[S ~struct {
	rotasafe.DBSecret
	raw string
}](v rotasafe.Version, what string, check func(rotasafe.DBSecret) error) (S, error) {
	s, err := parseDBSecret(v, what, check)
	return S{DBSecret: s, raw: v.SecretString}, err
}

// createPending is the Create step of every database strategy: AWSCURRENT's secret with a new
// password and, when other is non-nil (an alternating strategy), the other user's name.
// needAdmin says the masterarn field is required.
func createPending[S engineSecret](ctx context.Context, sc *StepContext, parse parseFunc[S], needAdmin bool, other func(cur S) (string, error)) (string, error) {
	cur, err := parse(sc.Current, "AWSCURRENT")
	if err != nil {
		return "", err
	}
	pending := cur.db()
	if needAdmin && pending.MasterARN == "" {
		return "", errNoMasterARN
	}
	if other != nil {
		if pending.Username, err = other(cur); err != nil {
			return "", err
		}
	}
	return withNewPassword(ctx, sc, pending)
}

// currentAndPending reads AWSCURRENT's and AWSPENDING's secrets, as the Set step of every
// database strategy starts, and refuses a pair that names two servers: a rotation changes a
// password on one.
func currentAndPending[S engineSecret](sc *StepContext, parse parseFunc[S]) (cur, pend S, err error) {
	if cur, err = parse(sc.Current, "AWSCURRENT"); err != nil {
		return cur, pend, err
	}
	if pend, err = parse(sc.Pending, "AWSPENDING"); err != nil {
		return cur, pend, err
	}
	if pend.addr() != cur.addr() {
		return cur, pend, fmt.Errorf("AWSPENDING names server %s, AWSCURRENT %s; they must be the same", pend.addr(), cur.addr())
	}
	return cur, pend, nil
}

// withNewPassword returns s with a new password, encoded as the pending secret's value.
func withNewPassword(ctx context.Context, sc *StepContext, s rotasafe.DBSecret) (string, error) {
	var err error
	if s.Password, err = sc.NewPassword(ctx); err != nil {
		return "", fmt.Errorf("generate a password: %w", err)
	}
	b, err := s.MarshalSecret()
	if err != nil {
		return "", fmt.Errorf("encode the pending secret: %w", err)
	}
	return string(b), nil
}

// previousOf returns the AWSPREVIOUS secret when there is one and it parses; the error is
// only that of reading it.
func previousOf[S engineSecret](ctx context.Context, sc *StepContext, parse parseFunc[S]) (S, bool, error) {
	var prev S
	v, ok, err := sc.Previous(ctx)
	if err != nil || !ok {
		return prev, false, err
	}
	prev, err = parse(v, "AWSPREVIOUS")
	return prev, err == nil, nil
}

// alternateUser returns the other user of an alternating pair: cloneOf(user) for an original,
// the original of a clone. A clone whose original was cut to fit the server's limit (mayBeCut
// says user is long enough for that) cannot be undone by removing the suffix; then the
// original is the AWSPREVIOUS user, whose clone it is.
func alternateUser[S engineSecret](ctx context.Context, sc *StepContext, parse parseFunc[S], user, suffix string, mayBeCut bool, cloneOf func(string) (string, error)) (string, error) {
	if !strings.HasSuffix(user, suffix) || user == suffix {
		return cloneOf(user)
	}
	if mayBeCut {
		prev, ok, err := previousOf(ctx, sc, parse)
		if err != nil {
			return "", err
		}
		if ok {
			if name, err := cloneOf(prev.db().Username); err == nil && name == user {
				return prev.db().Username, nil
			}
		}
	}
	return strings.TrimSuffix(user, suffix), nil
}

// adminSecret reads the secret that cur's masterarn names: the user that changes passwords,
// on cur's server.
func adminSecret[S engineSecret](ctx context.Context, sc *StepContext, parse parseFunc[S], cur S) (S, error) {
	var admin S
	arn := cur.db().MasterARN
	if arn == "" {
		return admin, errNoMasterARN
	}
	mv, err := rotasafe.Fetch(ctx, sc.API, arn, "", rotasafe.StageCurrent)
	if err != nil {
		return admin, fmt.Errorf("read the masterarn secret: %w", err)
	}
	if admin, err = parse(mv, "the masterarn secret"); err != nil {
		return admin, err
	}
	if admin.addr() != cur.addr() {
		return admin, fmt.Errorf("the masterarn secret names server %s, AWSCURRENT %s; they must be the same", admin.addr(), cur.addr())
	}
	return admin, nil
}

// loginCurrentOrPrevious logs in as the user with the AWSCURRENT password; when that fails,
// it checks whether the AWSPENDING password logs in (a replayed step: the password changed
// already; then ok is false and err nil: nothing to do), else it logs in with the AWSPREVIOUS
// one (a rotation that set the password and failed before finishSecret left the service one
// step ahead). AWSCURRENT comes first so that an ordinary rotation makes no failed login:
// lockout counters (max_password_errors, FAILED_LOGIN_ATTEMPTS) and failed-login alerts see
// none.
func loginCurrentOrPrevious[S engineSecret, C any](ctx context.Context, sc *StepContext, parse parseFunc[S], cur, pend S,
	connect func(context.Context, S) (C, error), closeConn func(C)) (c C, ok bool, err error) {
	c, curErr := connect(ctx, cur)
	if curErr == nil {
		return c, true, nil
	}
	var none C
	if pc, err := connect(ctx, pend); err == nil {
		closeConn(pc)
		return none, false, nil
	}
	prevV, has, err := sc.Previous(ctx)
	if err != nil {
		return none, false, err
	}
	var prevErr error = errors.New("the secret has no AWSPREVIOUS version")
	if has {
		prev, err := parse(prevV, "AWSPREVIOUS")
		switch {
		case err != nil:
			prevErr = err
		case prev.db().Username != cur.db().Username || prev.addr() != cur.addr():
			prevErr = fmt.Errorf("AWSPREVIOUS names user %s on %s, not the AWSCURRENT user", prev.db().Username, prev.addr())
		default:
			if c, prevErr = connect(ctx, prev); prevErr == nil {
				return c, true, nil
			}
		}
	}
	return none, false, fmt.Errorf("%w to %s as %s with the pending, current or previous password: current: %w; previous: %w",
		errNoLogin, cur.addr(), cur.db().Username, curErr, prevErr)
}
