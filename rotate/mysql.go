package rotate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"unicode/utf8"
)

// The MySQL and MariaDB strategies send passwords only as mysql_native_password hashes
// computed here, so no plaintext password reaches the server, its
// general log, its slow log or its binary log. What that means per server:
//
//   - MariaDB (10.2 and later; 10.4 for MySQLDualPassword): every strategy works as
//     documented, tested against MariaDB 10.11.
//   - MySQL 5.7 and 8.0: accounts must use mysql_native_password. MySQL has no statement by
//     which an account without privileges sets its own password from a hash (SET PASSWORD
//     and ALTER USER USER() take plaintext), so MySQLSingleUser needs the user to hold
//     CREATE USER, or WithAdminSecret. MySQL 8.4 disables mysql_native_password unless the
//     server starts with --mysql-native-password=ON.
//   - MySQL 9 has no mysql_native_password: its accounts use caching_sha2_password, and
//     the strategies refuse them.
//   - An account that logs in with another plugin (caching_sha2_password, ed25519,
//     unix_socket, PAM, ...) is refused with an error naming the plugin: a strategy never
//     changes an account's plugin behind its owner's back, and never falls back to sending
//     the plaintext.
//
// Secrets are AWS's database secret JSON with engine mysql, mariadb, aurora-mysql or aurora;
// port 3306 and no database unless the secret says otherwise.

// myKind is the scenario of a myStrategy.
type myKind int

const (
	mySingle myKind = iota
	myAlternating
	myDual
)

// myStrategy implements the three MySQL and MariaDB scenarios.
type myStrategy struct {
	cfg  dbConfig
	kind myKind
}

// mysqlHook runs before each database operation a MySQL strategy makes: a connect (conn is
// nil) or a statement on conn. A non-nil error aborts the operation with that error.
type mysqlHook func(ctx context.Context, conn *sql.Conn, op string) error

// withMySQLHook installs the test seam that runs before every MySQL database operation.
func withMySQLHook(h mysqlHook) DBOption {
	return func(c *dbConfig) { c.myHook = h }
}

// MySQLSingleUser rotates the password of one MySQL or MariaDB user, as AWS's
// SecretsManagerRDSMySQLRotationSingleUser and ...MariaDBRotationSingleUser templates do
// (scenario 1), without sending the password in plaintext as they do:
//
//   - Create copies AWSCURRENT with a new password.
//   - Set logs in as the user with the AWSCURRENT password; only when that fails does it try
//     the pending one (a replayed step: nothing to do), then the AWSPREVIOUS one; it checks
//     that the account logs in with one mysql_native_password password and nothing else, and
//     sets the hash of the pending password: on MariaDB with SET PASSWORD = '*HEX', which needs no privilege;
//     on MySQL with ALTER USER ... IDENTIFIED WITH mysql_native_password AS '*HEX', which
//     needs CREATE USER. With WithAdminSecret the user named by the secret's masterarn makes
//     the change instead (the user must still log in first).
//   - Test logs in with the pending password.
//
// Between setSecret and finishSecret only AWSPENDING logs in; applications that read the
// secret must fall back to it (package sqlconn does), or use MySQLDualPassword or
// MySQLAlternatingUsers.
//
// Options: WithTLSMode, WithConnectTimeout, WithAdminSecret. Passwords follow the handler's
// password options.
func MySQLSingleUser(opts ...DBOption) Strategy {
	return &myStrategy{cfg: newDBConfig("MySQLSingleUser", false, opts), kind: mySingle}
}

// MySQLAlternatingUsers rotates between two MySQL or MariaDB users, the secret's user and a
// clone named with a suffix ("_clone" by default, WithCloneSuffix), as AWS's
// SecretsManagerRDSMySQLRotationMultiUser template does (scenario 2), so that the AWSCURRENT
// credentials keep working throughout a rotation. Passwords are changed by the user whose
// secret the masterarn field names; it needs CREATE USER, SELECT on the mysql schema and
// every privilege of the user WITH GRANT OPTION.
//
//   - Create logs in as the AWSCURRENT user (to learn the server's user name limit) and copies
//     AWSCURRENT with the other user's name and a new password. The clone's name is the user's
//     with the suffix, the user's part cut to fit the server's limit: 128 characters on
//     MariaDB 10.6 and later, 80 on MariaDB 10.0 to 10.5, 32 on MySQL 5.7.8 and later, 16
//     before.
//   - Set logs in with AWSCURRENT (so that a secret cannot be pointed at an account it does
//     not own; the server's CURRENT_USER() for that login gives the account's host), then as
//     the masterarn user:
//   - creates the clone, when missing, at the same host as the original (not always '%'),
//     with the pending password's hash;
//   - refuses to touch an existing pending account unless it holds the AWSPENDING password
//     (a rerun) or is the AWSPREVIOUS user with the AWSPREVIOUS password: the pair is the one
//     this secret made, never an unrelated account whose name differs by the suffix;
//   - when the pending user is the clone, gives it exactly the original's grants: each
//     SHOW GRANTS row of the original with only its grantee rewritten (WITH GRANT OPTION,
//     roles with WITH ADMIN OPTION, SET DEFAULT ROLE ... FOR rows, proxies, column and
//     routine privileges and resource limits are kept), after revoking what the clone holds
//     beyond them; and the original's TLS requirement (ssl_type, ssl_cipher, x509_issuer,
//     x509_subject);
//   - sets the pending password's hash last, so that a rerun that finds it set has nothing
//     left to do.
//   - Test logs in with the pending password.
//
// On MySQL 8 default roles are kept in mysql.default_roles, not in SHOW GRANTS: they are not
// copied. Partial revokes (MySQL 8) are not copied either.
//
// Options: WithTLSMode, WithConnectTimeout, WithCloneSuffix. Passwords follow the handler's
// password options.
func MySQLAlternatingUsers(opts ...DBOption) Strategy {
	return &myStrategy{cfg: newDBConfig("MySQLAlternatingUsers", true, opts), kind: myAlternating}
}

// MySQLDualPassword rotates the password of one user that holds two passwords at once
// (scenario 3 on a database), so that no login ever fails: AWSCURRENT keeps logging in from
// one rotation to the next, like AWSPREVIOUS does with MySQLAlternatingUsers, without a second
// user.
//
//   - Create copies AWSCURRENT with a new password.
//   - Set logs in with AWSCURRENT (the secret must own the account), checks that the account
//     logs in with mysql_native_password only, and makes exactly the AWSPENDING and AWSCURRENT
//     passwords valid, as the masterarn user when the secret names one, else as the user
//     itself, which then needs CREATE USER:
//   - MariaDB 10.4 and later, in one statement: ALTER USER ... IDENTIFIED VIA
//     mysql_native_password USING '*pending' OR mysql_native_password USING '*current';
//   - MySQL 8.0.14 and later: ALTER USER ... IDENTIFIED WITH mysql_native_password AS
//     '*current', then AS '*pending' RETAIN CURRENT PASSWORD (skipped when the pending hash
//     is the primary already, since a second RETAIN would push AWSCURRENT out).
//   - Test logs in with the pending password and with the current one.
//
// The password of AWSPREVIOUS stops working at the next rotation's setSecret, so an
// application holding it has a whole rotation period to pick up the new one. Pitfall: a
// SET PASSWORD or plain ALTER USER on such an account later changes only the first password
// and leaves the second working; MySQLSingleUser refuses accounts with two passwords.
//
// Options: WithTLSMode, WithConnectTimeout, WithAdminSecret (which makes the masterarn field
// required). Passwords follow the handler's password options.
func MySQLDualPassword(opts ...DBOption) Strategy {
	return &myStrategy{cfg: newDBConfig("MySQLDualPassword", false, opts), kind: myDual}
}

// errNoMasterARN is the error when a strategy needs the masterarn field and it is missing.
var errNoMasterARN = errors.New("AWSCURRENT: field \"masterarn\" is missing; it must name the secret of the user that changes passwords")

// Create derives the pending secret from AWSCURRENT.
func (m *myStrategy) Create(ctx context.Context, sc *StepContext) (string, error) {
	var other func(mySecret) (string, error)
	if m.kind == myAlternating {
		other = func(cur mySecret) (string, error) { return m.alternate(ctx, sc, cur) }
	}
	return createPending(ctx, sc, parseMySQL, m.kind == myAlternating || m.cfg.throughAdmin, other)
}

// cloneName returns the clone of user: user with the suffix, user's part cut (at a character
// boundary) so that the whole fits limit characters.
func (m *myStrategy) cloneName(user string, limit int) (string, error) {
	suffix := m.cfg.cloneSuffix
	ns := utf8.RuneCountInString(suffix)
	if ns >= limit {
		return "", fmt.Errorf("the clone suffix is %d characters; the server's user names have at most %d", ns, limit)
	}
	if utf8.RuneCountInString(user)+ns > limit {
		user = string([]rune(user)[:limit-ns])
	}
	return user + suffix, nil
}

// alternate returns the other user of the pair: the clone of an original, the original of a
// clone. A clone whose original was cut to fit the limit cannot be undone by removing the
// suffix; then the original is the AWSPREVIOUS user, whose clone it is.
func (m *myStrategy) alternate(ctx context.Context, sc *StepContext, cur mySecret) (string, error) {
	c, err := m.connect(ctx, cur)
	if err != nil {
		return "", fmt.Errorf("the AWSCURRENT credentials must log in: %w", err)
	}
	defer c.close()
	s, err := m.describe(ctx, c)
	if err != nil {
		return "", err
	}
	limit := s.server.userNameLimit()
	return alternateUser(ctx, sc, parseMySQL, cur.Username, m.cfg.cloneSuffix, utf8.RuneCountInString(cur.Username) >= limit,
		func(u string) (string, error) { return m.cloneName(u, limit) })
}

// Set makes the server accept the pending password.
func (m *myStrategy) Set(ctx context.Context, sc *StepContext) error {
	cur, pend, err := currentAndPending(sc, parseMySQL)
	if err != nil {
		return err
	}
	if m.kind != myAlternating && pend.Username != cur.Username {
		return fmt.Errorf("AWSPENDING names user %s, AWSCURRENT %s; this rotation keeps the user", pend.Username, cur.Username)
	}
	switch m.kind {
	case myAlternating:
		return m.setAlternating(ctx, sc, cur, pend)
	case myDual:
		return m.setDual(ctx, sc, cur, pend)
	}
	return m.setSingle(ctx, sc, cur, pend)
}

// ownSession describes the session c of the secret's user, checks that the server matched the
// login to one of the user's own accounts (not an anonymous one) and that the account logs
// in with at most passwords mysql_native_password hashes and nothing else, and returns the
// account's login methods. On error it closes c.
func (m *myStrategy) ownSession(ctx context.Context, c *myConn, user string, passwords int) (*session, []authMethod, error) {
	s, err := m.describe(ctx, c)
	if err != nil {
		c.close()
		return nil, nil, err
	}
	if s.account.User != user {
		c.close()
		return nil, nil, fmt.Errorf("the server matched the login of %s to another account (%s); refusing to change it", user, s.account)
	}
	methods, err := m.authMethods(ctx, s, s.account, true)
	if err == nil {
		err = checkNative(s.account, methods, passwords)
	}
	if err != nil {
		s.close()
		return nil, nil, err
	}
	return s, methods, nil
}

// loginOwn logs in with cur, which must log in before the step does what, and checks the
// session as ownSession does.
func (m *myStrategy) loginOwn(ctx context.Context, cur mySecret, passwords int, what string) (*session, []authMethod, error) {
	c, err := m.connect(ctx, cur)
	if err != nil {
		return nil, nil, fmt.Errorf("the AWSCURRENT credentials must log in before %s: %w", what, err)
	}
	return m.ownSession(ctx, c, cur.Username, passwords)
}

func (m *myStrategy) setSingle(ctx context.Context, sc *StepContext, cur, pend mySecret) error {
	c, ok, err := loginCurrentOrPrevious(ctx, sc, parseMySQL, cur, pend, m.connect, (*myConn).close)
	if err != nil || !ok {
		return err
	}
	s, _, err := m.ownSession(ctx, c, cur.Username, 1)
	if err != nil {
		return err
	}
	defer s.close()
	hash := nativePasswordHash(pend.Password)
	if m.cfg.throughAdmin {
		admin, err := m.connectAdmin(ctx, sc, cur)
		if err != nil {
			return err
		}
		defer admin.close()
		return m.setPassword(ctx, admin, s.account, false, hash)
	}
	err = m.setPassword(ctx, s, s.account, true, hash)
	if !s.server.mariaDB && errNumber(err) == 1227 {
		return fmt.Errorf("%w: MySQL lets an account without CREATE USER change its own password only by sending it in plaintext, "+
			"which rotasafe never does; grant the user CREATE USER, or use WithAdminSecret", err)
	}
	return err
}

// setPassword sets the mysql_native_password hash of account a on session s.
func (m *myStrategy) setPassword(ctx context.Context, s *session, a account, self bool, hash string) error {
	stmt, err := setPasswordSQL(s.server, a, self, hash)
	if err != nil {
		return err
	}
	if err := m.exec(ctx, s.myConn, stmt); err != nil {
		return fmt.Errorf("change the password of %s: %w", a, err)
	}
	return nil
}

// connectAdmin logs in as the user of the secret that cur's masterarn names, on cur's server.
func (m *myStrategy) connectAdmin(ctx context.Context, sc *StepContext, cur mySecret) (*session, error) {
	admin, err := adminSecret(ctx, sc, parseMySQL, cur)
	if err != nil {
		return nil, err
	}
	c, err := m.connect(ctx, admin)
	if err != nil {
		return nil, err
	}
	s, err := m.describe(ctx, c)
	if err != nil {
		c.close()
		return nil, err
	}
	return s, nil
}

func (m *myStrategy) setDual(ctx context.Context, sc *StepContext, cur, pend mySecret) error {
	s, methods, err := m.loginOwn(ctx, cur, 2, "the passwords change")
	if err != nil {
		return err
	}
	defer s.close()
	by := s
	if cur.MasterARN != "" || m.cfg.throughAdmin {
		if by, err = m.connectAdmin(ctx, sc, cur); err != nil {
			return err
		}
		defer by.close()
	}
	if !by.server.mariaDB && len(methods) > 0 && methods[0].auth == nativePasswordHash(pend.Password) {
		// MySQL's RETAIN CURRENT PASSWORD is not idempotent: when the pending password is
		// the primary already, a second run would make it the secondary too. The stored
		// hash says so without a login that would fail in an ordinary rotation.
		return nil
	}
	stmts, err := dualPasswordSQL(by.server, s.account, nativePasswordHash(pend.Password), nativePasswordHash(cur.Password))
	if err != nil {
		return err
	}
	for _, stmt := range stmts {
		if err := m.exec(ctx, by.myConn, stmt); err != nil {
			if by == s && errNumber(err) == 1227 {
				return fmt.Errorf("set the two passwords of %s: %w: the user needs CREATE USER to change them itself; "+
					"or give the secret a masterarn naming a user that has it", s.account, err)
			}
			return fmt.Errorf("set the two passwords of %s: %w", s.account, err)
		}
	}
	return nil
}

// errNotOwned is the cause when the pending account of an alternating rotation exists but
// holds no password the secret has held.
var errNotOwned = errors.New("it holds neither the AWSPENDING password nor, as the AWSPREVIOUS user, the AWSPREVIOUS one, so it is not this secret's")

func (m *myStrategy) setAlternating(ctx context.Context, sc *StepContext, cur, pend mySecret) error {
	// The confused-deputy guard: only the owner of the current credentials may rotate.
	s, _, err := m.loginOwn(ctx, cur, 1, "the masterarn user acts")
	if err != nil {
		return err
	}
	s.close()
	limit := s.server.userNameLimit()
	cloneOfCur, err := m.cloneName(cur.Username, limit)
	if err != nil {
		return err
	}
	cloneOfPend, err := m.cloneName(pend.Username, limit)
	if err != nil {
		return err
	}
	var orig, clone string
	switch {
	case pend.Username == cloneOfCur:
		orig, clone = cur.Username, pend.Username
	case cur.Username == cloneOfPend:
		orig, clone = pend.Username, cur.Username
	default:
		return fmt.Errorf("AWSPENDING names user %s, which is not the alternate of the AWSCURRENT user %s", pend.Username, cur.Username)
	}
	host := s.account.Host
	origAcct, cloneAcct, pendAcct := account{orig, host}, account{clone, host}, account{pend.Username, host}
	pendHash := nativePasswordHash(pend.Password)

	admin, err := m.connectAdmin(ctx, sc, cur)
	if err != nil {
		return err
	}
	defer admin.close()
	exists, err := m.accountExists(ctx, admin, pendAcct)
	if err != nil {
		return err
	}
	stored := ""
	switch {
	case !exists && pendAcct == cloneAcct:
		stmt, err := createUserSQL(cloneAcct, pendHash)
		if err != nil {
			return err
		}
		if err := m.exec(ctx, admin.myConn, stmt); err != nil {
			return fmt.Errorf("create user %s: %w", cloneAcct, err)
		}
		stored = pendHash
	case !exists:
		return fmt.Errorf("the original user %s does not exist", origAcct)
	default:
		methods, err := m.authMethods(ctx, admin, pendAcct, false)
		if err != nil {
			return err
		}
		if err := checkNative(pendAcct, methods, 1); err != nil {
			return err
		}
		stored = methods[0].auth
		if err := m.checkOwned(ctx, sc, pend, stored); err != nil {
			return fmt.Errorf("account %s: %w; refusing to take it over", pendAcct, err)
		}
	}
	if pendAcct == cloneAcct {
		if err := m.syncGrants(ctx, admin, origAcct, cloneAcct); err != nil {
			return err
		}
		if err := m.syncTLS(ctx, admin, origAcct, cloneAcct); err != nil {
			return err
		}
	}
	if stored != pendHash {
		return m.setPassword(ctx, admin, pendAcct, false, pendHash)
	}
	return nil
}

// checkOwned proves that the secret owns the existing pending account: its stored hash is the
// AWSPENDING password's (this rotation set it) or, when AWSPREVIOUS names the account, the
// AWSPREVIOUS password's.
func (m *myStrategy) checkOwned(ctx context.Context, sc *StepContext, pend mySecret, stored string) error {
	if stored == nativePasswordHash(pend.Password) {
		return nil
	}
	prevV, ok, err := sc.Previous(ctx)
	if err != nil {
		return err
	}
	if ok {
		if prev, err := parseMySQL(prevV, "AWSPREVIOUS"); err == nil && prev.Username == pend.Username &&
			prev.sameServer(pend) && stored == nativePasswordHash(prev.Password) {
			return nil
		}
	}
	return errNotOwned
}

// accountExists reports whether the account exists.
func (m *myStrategy) accountExists(ctx context.Context, s *session, a account) (bool, error) {
	rows, err := m.queryStrings(ctx, s.myConn, 1, "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?", a.User, a.Host)
	if err != nil {
		return false, fmt.Errorf("look up user %s: %w", a, err)
	}
	return len(rows) == 1 && rows[0][0] != "0", nil
}

// syncGrants gives clone exactly the grants of orig.
func (m *myStrategy) syncGrants(ctx context.Context, s *session, orig, clone account) error {
	origRows, err := m.queryStrings(ctx, s.myConn, 1, "SHOW GRANTS FOR "+orig.sql())
	if err != nil {
		return fmt.Errorf("SHOW GRANTS FOR %s: %w", orig, err)
	}
	cloneRows, err := m.queryStrings(ctx, s.myConn, 1, "SHOW GRANTS FOR "+clone.sql())
	if err != nil {
		return fmt.Errorf("SHOW GRANTS FOR %s: %w", clone, err)
	}
	plan, err := planGrants(column(origRows), column(cloneRows), orig, clone)
	if err != nil {
		return err
	}
	for i, stmt := range plan.revokes {
		if err := m.exec(ctx, s.myConn, stmt); err != nil {
			return fmt.Errorf("revoke from %s what %s does not hold (statement %d of %d): %w", clone, orig, i+1, len(plan.revokes), err)
		}
	}
	for i, stmt := range plan.grants {
		if err := m.exec(ctx, s.myConn, stmt); err != nil {
			return fmt.Errorf("copy grant %d of %d of %s to %s: %w", i+1, len(plan.grants), orig, clone, err)
		}
	}
	return nil
}

// syncTLS gives clone the TLS requirement of orig.
func (m *myStrategy) syncTLS(ctx context.Context, s *session, orig, clone account) error {
	read := func(a account) (tlsRequirement, error) {
		rows, err := m.queryStrings(ctx, s.myConn, 4,
			"SELECT ssl_type, ssl_cipher, x509_issuer, x509_subject FROM mysql.user WHERE User = ? AND Host = ?", a.User, a.Host)
		if err != nil || len(rows) != 1 {
			return tlsRequirement{}, fmt.Errorf("read the TLS requirement of %s: %d rows, %w", a, len(rows), err)
		}
		return tlsRequirement{Type: rows[0][0], Cipher: rows[0][1], Issuer: rows[0][2], Subject: rows[0][3]}, nil
	}
	want, err := read(orig)
	if err != nil {
		return err
	}
	have, err := read(clone)
	if err != nil {
		return err
	}
	if want == have {
		return nil
	}
	stmt, err := requireSQL(clone, want, s.backslashEscapes)
	if err != nil {
		return err
	}
	if err := m.exec(ctx, s.myConn, stmt); err != nil {
		return fmt.Errorf("copy the TLS requirement of %s to %s: %w", orig, clone, err)
	}
	return nil
}

// column returns the first column of rows.
func column(rows [][]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r[0]
	}
	return out
}

// Test logs in with the pending credentials and runs a query; MySQLDualPassword also logs in
// with the current ones, which must keep working.
func (m *myStrategy) Test(ctx context.Context, sc *StepContext) error {
	pend, err := parseMySQL(sc.Pending, "AWSPENDING")
	if err != nil {
		return err
	}
	if err := m.tryQuery(ctx, pend); err != nil {
		return fmt.Errorf("the pending credentials: %w", err)
	}
	if m.kind == myDual {
		cur, err := parseMySQL(sc.Current, "AWSCURRENT")
		if err != nil {
			return err
		}
		if err := m.tryQuery(ctx, cur); err != nil {
			return fmt.Errorf("the current credentials, which must keep working: %w", err)
		}
	}
	return nil
}

// tryQuery logs in with s and runs SELECT 1.
func (m *myStrategy) tryQuery(ctx context.Context, s mySecret) error {
	c, err := m.connect(ctx, s)
	if err != nil {
		return err
	}
	defer c.close()
	if err := m.exec(ctx, c, "SELECT 1"); err != nil {
		return fmt.Errorf("query as %s: %w", s.Username, err)
	}
	return nil
}
