package rotate

import (
	"context"
	"database/sql"
	"io"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
)

// myEnv is one MariaDB server and an smEnv.
type myEnv struct {
	smEnv
	my *mysqltest.Server
}

func newMyEnv(t testing.TB, opts ...mysqltest.Option) *myEnv {
	t.Helper()
	my := mysqltest.New(t, opts...)
	return (&myEnv{my: my}).sub(t)
}

// sub returns an env for subtest t on the same server with a Secrets Manager of its own.
func (e *myEnv) sub(t testing.TB) *myEnv {
	s := &myEnv{my: e.my}
	s.smEnv = newSMEnv(t, s.login)
	return s
}

// myScenario names a MySQL strategy and whether its secret alternates users.
type myScenario struct {
	name        string
	alternating bool
	dual        bool
	strategy    func(opts ...DBOption) Strategy
}

var myScenarios = []myScenario{
	{"single_user", false, false, MySQLSingleUser},
	{"alternating_users", true, false, MySQLAlternatingUsers},
	{"dual_password", false, true, MySQLDualPassword},
	{"single_user_through_admin", false, false, func(opts ...DBOption) Strategy { return MySQLSingleUser(append(opts, WithAdminSecret())...) }},
}

// handler returns a handler for the scenario's strategy with TLS off (the test server has
// none) and opts.
func (sc myScenario) handler(opts ...DBOption) *Handler {
	return NewHandler(nil, sc.strategy(append([]DBOption{WithTLSMode(TLSDisable)}, opts...)...))
}

// dbSecret is a secret for user on the server.
func (e *myEnv) dbSecret(user, password string) rotasafe.DBSecret {
	return rotasafe.DBSecret{Engine: "mariadb", Host: e.my.Host(), Port: e.my.Port(), Username: user, Password: password}
}

// user creates an account at host '%' with a random password and returns its secret.
func (e *myEnv) user(prefix string) rotasafe.DBSecret {
	e.t.Helper()
	return e.userAt(mysqltest.UniqueName(prefix), "%")
}

// userAt creates the account name@host with a random password and returns its secret.
func (e *myEnv) userAt(name, host string) rotasafe.DBSecret {
	e.t.Helper()
	pw := mustPassword(e.t)
	if err := e.my.CreateUserAt(e.t.Context(), name, host, pw); err != nil {
		e.t.Fatal(err)
	}
	return e.dbSecret(name, pw)
}

// master stores the admin's secret and returns its ARN.
func (e *myEnv) master() string {
	e.t.Helper()
	return e.createSecret(mysqltest.UniqueName("master"), e.dbSecret(e.my.AdminUser(), e.my.AdminPassword()))
}

// newSecret makes a user and a secret for it that names masterARN, and returns the secret's
// ARN and the user's secret.
func (e *myEnv) newSecret(masterARN string) (string, rotasafe.DBSecret) {
	e.t.Helper()
	s := e.user("app")
	s.MasterARN = masterARN
	return e.createSecret(mysqltest.UniqueName("db"), s), s
}

// login connects with the credentials and runs a query.
func (e *myEnv) login(ctx context.Context, s rotasafe.DBSecret) error {
	cfg := e.my.Config(s.Username, s.Password, s.DBName)
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	var one int
	return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// allPasswords returns every password every version of the secrets held.
func (e *myEnv) allPasswords(ids ...string) []string {
	e.t.Helper()
	var out []string
	for _, id := range ids {
		for _, v := range e.sm.Versions(id) {
			if !v.HasValue {
				continue
			}
			ver, err := rotasafe.Fetch(e.t.Context(), e.api, id, v.ID, "")
			if err != nil {
				e.t.Fatal(err)
			}
			if s, err := rotasafe.ParseDBSecret([]byte(ver.SecretString)); err == nil {
				out = append(out, s.Password)
			}
		}
	}
	return out
}

func (e *myEnv) exec(q string) error { return e.my.Exec(e.t.Context(), q) }

// myFailingHook fails the k-th database operation (1-based) and counts them all.
type myFailingHook struct {
	k, n  int
	close bool // close the connection instead of returning an error (a dropped connection)
}

func (h *myFailingHook) hook(ctx context.Context, conn *sql.Conn, op string) error {
	h.n++
	if h.n != h.k {
		return nil
	}
	if h.close && conn != nil {
		// Drop the session under database/sql's feet: the statement then fails.
		return conn.Raw(func(dc any) error {
			if c, ok := dc.(io.Closer); ok {
				c.Close()
			}
			return nil
		})
	}
	return errInjected
}
