package rotate

import (
	"context"
	"database/sql"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/go-sql-driver/mysql"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
	"github.com/rotasafe/rotasafe/smtest"
)

// myEnv is one MariaDB server, one Secrets Manager and a client that does not retry, so an
// injected fault reaches the handler.
type myEnv struct {
	t   testing.TB
	my  *mysqltest.Server
	sm  *smtest.Server
	api *secretsmanager.Client
}

func newMyEnv(t testing.TB, opts ...mysqltest.Option) *myEnv {
	t.Helper()
	my := mysqltest.New(t, opts...)
	return (&myEnv{my: my}).sub(t)
}

// sub returns an env for subtest t on the same server with a Secrets Manager of its own.
func (e *myEnv) sub(t testing.TB) *myEnv {
	sm := smtest.New(t)
	return &myEnv{t: t, my: e.my, sm: sm, api: sm.Client(func(o *secretsmanager.Options) { o.Retryer = aws.NopRetryer{} })}
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

// createSecret stores s as a new secret and returns its ARN.
func (e *myEnv) createSecret(name string, s rotasafe.DBSecret) string {
	e.t.Helper()
	b, err := s.MarshalSecret()
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := e.api.CreateSecret(e.t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(string(b))})
	if err != nil {
		e.t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// fetch reads a stage of the secret as a DBSecret; ok is false when no version holds it.
func (e *myEnv) fetch(id, stage string) (rotasafe.DBSecret, bool) {
	e.t.Helper()
	v, err := rotasafe.Fetch(e.t.Context(), e.api, id, "", stage)
	if rotasafe.IsNotFound(err) {
		return rotasafe.DBSecret{}, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		e.t.Fatal(err)
	}
	return s, true
}

func (e *myEnv) labels(id string) rotasafe.Labels {
	e.t.Helper()
	l, err := rotasafe.DescribeLabels(e.t.Context(), e.api, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
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

func (e *myEnv) stageLogsIn(id, stage string) bool {
	e.t.Helper()
	s, ok := e.fetch(id, stage)
	return ok && e.login(e.t.Context(), s) == nil
}

func (e *myEnv) mustLogIn(id, stage string) rotasafe.DBSecret {
	e.t.Helper()
	s, ok := e.fetch(id, stage)
	if !ok {
		e.t.Fatalf("no %s version", stage)
	}
	if err := e.login(e.t.Context(), s); err != nil {
		e.t.Fatalf("%s (user %s) does not log in: %v", stage, s.Username, err)
	}
	return s
}

// checkInterrupted checks the state a failed rotation leaves: something still logs in and at
// most one version is AWSPENDING.
func (e *myEnv) checkInterrupted(id, what string) {
	e.t.Helper()
	if !e.stageLogsIn(id, rotasafe.StageCurrent) && !e.stageLogsIn(id, rotasafe.StagePending) {
		e.t.Fatalf("%s: neither AWSCURRENT nor AWSPENDING logs in", what)
	}
	if n := pendingHolders(e.labels(id)); n > 1 {
		e.t.Fatalf("%s: %d versions hold AWSPENDING", what, n)
	}
}

// rerun finishes the rotation with a handler that does not fail and checks the end state.
func (e *myEnv) rerun(id, what string, h *Handler) {
	e.t.Helper()
	token, err := Rotate(e.t.Context(), e.api, id, h)
	if err != nil {
		e.t.Fatalf("%s: rerun: %v", what, err)
	}
	l := e.labels(id)
	if !l.Has(token, rotasafe.StageCurrent) {
		e.t.Fatalf("%s: rerun: version %s is not AWSCURRENT", what, token)
	}
	if n := pendingHolders(l); n > 1 {
		e.t.Fatalf("%s: rerun: %d versions hold AWSPENDING", what, n)
	}
	e.mustLogIn(id, rotasafe.StageCurrent)
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
