package rotate

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/smtest"
)

// smEnv is one Secrets Manager of test t and a client that does not retry, so an injected
// fault reaches the handler; env and myEnv add a database server.
type smEnv struct {
	t     testing.TB
	sm    *smtest.Server
	api   *secretsmanager.Client
	logIn func(ctx context.Context, s rotasafe.DBSecret) error // the database's login and query
}

func newSMEnv(t testing.TB, logIn func(context.Context, rotasafe.DBSecret) error) smEnv {
	sm := smtest.New(t)
	return smEnv{t: t, sm: sm, api: sm.Client(func(o *secretsmanager.Options) { o.Retryer = aws.NopRetryer{} }), logIn: logIn}
}

// env is one PostgreSQL cluster and an smEnv.
type env struct {
	smEnv
	pg *pgtest.Cluster
}

func TestMain(m *testing.M) {
	// Most tests here wait on PostgreSQL and MariaDB (logins, rotations): four at once keep
	// two cores busy where one per core leaves them idle.
	testserver.WaitingParallel(4)
	code := m.Run()
	pgtest.CloseShared()
	os.Exit(code)
}

// newEnv returns an env on the test binary's shared cluster (pgtest.Shared): each test makes
// its own roles and secrets, and a cluster start costs more than most tests here. With opts
// (a server setting such as logged statements) it starts a cluster of its own.
func newEnv(t testing.TB, opts ...pgtest.Option) *env {
	t.Helper()
	if len(opts) == 0 {
		return (&env{pg: pgtest.Shared(t)}).sub(t)
	}
	return (&env{pg: pgtest.New(t, opts...)}).sub(t)
}

// sub returns an env for subtest t on the same cluster with a Secrets Manager of its own, so
// that subtests can run in parallel and inject faults without touching each other.
func (e *env) sub(t testing.TB) *env {
	s := &env{pg: e.pg}
	s.smEnv = newSMEnv(t, s.login)
	return s
}

// dbSecret is a secret for user on the cluster's postgres database.
func (e *env) dbSecret(user, password string) rotasafe.DBSecret {
	return rotasafe.DBSecret{Engine: "postgres", Host: e.pg.Host(), Port: e.pg.Port(), Username: user, Password: password, DBName: "postgres"}
}

// role creates a login role with a random password and returns its secret.
func (e *env) role(prefix string, attrs ...string) rotasafe.DBSecret {
	e.t.Helper()
	name := pgtest.UniqueName(prefix)
	pw := mustPassword(e.t)
	if err := e.pg.CreateRole(e.t.Context(), name, pw, attrs...); err != nil {
		e.t.Fatal(err)
	}
	return e.dbSecret(name, pw)
}

// master stores the superuser's secret and returns its ARN.
func (e *env) master() string {
	e.t.Helper()
	return e.createSecret(pgtest.UniqueName("master"), e.dbSecret(e.pg.SuperUser(), e.pg.SuperPassword()))
}

func mustPassword(t testing.TB) string {
	t.Helper()
	pw, err := newHandlerConfig(nil).pw.generate(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return pw
}

// createSecret stores s as a new secret and returns its ARN.
func (e *smEnv) createSecret(name string, s rotasafe.DBSecret) string {
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
func (e *smEnv) fetch(id, stage string) (rotasafe.DBSecret, bool) {
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

// labels reads the secret's staging labels.
func (e *smEnv) labels(id string) rotasafe.Stages {
	e.t.Helper()
	l, err := rotasafe.DescribeStages(e.t.Context(), e.api, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// login connects with the credentials and runs a query.
func (e *env) login(ctx context.Context, s rotasafe.DBSecret) error {
	conn, err := pgx.Connect(ctx, e.pg.ConnString(s.Username, s.Password, s.DBNameOrDefault()))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "SELECT 1")
	return err
}

// stageLogsIn reports whether the version holding stage exists and logs in.
func (e *smEnv) stageLogsIn(id, stage string) bool {
	e.t.Helper()
	s, ok := e.fetch(id, stage)
	return ok && e.logIn(e.t.Context(), s) == nil
}

// mustLogIn fails the test unless the version holding stage logs in.
func (e *smEnv) mustLogIn(id, stage string) rotasafe.DBSecret {
	e.t.Helper()
	s, ok := e.fetch(id, stage)
	if !ok {
		e.t.Fatalf("no %s version", stage)
	}
	if err := e.logIn(e.t.Context(), s); err != nil {
		e.t.Fatalf("%s (user %s) does not log in: %v", stage, s.Username, err)
	}
	return s
}

// pendingHolders counts the versions that hold AWSPENDING.
func pendingHolders(l rotasafe.Stages) int {
	n := 0
	for id := range l {
		if l.Has(id, rotasafe.StagePending) {
			n++
		}
	}
	return n
}

// runInterrupted runs test as a parallel subtest of t for each of modes: name/error where a
// statement fails (closeConn false), name/close where the connection drops instead.
func runInterrupted(t *testing.T, name string, modes []bool, test func(t *testing.T, closeConn bool)) {
	for _, closeConn := range modes {
		sub := name + "/error"
		if closeConn {
			sub = name + "/close"
		}
		t.Run(sub, func(t *testing.T) {
			t.Parallel()
			test(t, closeConn)
		})
	}
}

// failingHook fails the k-th database operation (1-based) and counts them all.
// interruptEach fails database operation k = 1, 2, ... of two rotations of a new secret
// (newID) in turn, until a rotation makes fewer than k operations. failing(k) returns a
// handler whose hook fails the k-th operation and the count of operations the hook saw.
// After each failure it checks the state left behind (checkInterrupted) and finishes the
// rotation with clean (rerun).
func (e *smEnv) interruptEach(newID func() string, clean *Handler, failing func(k int) (*Handler, func() int)) {
	e.t.Helper()
	for k := 1; ; k++ {
		// A new user for each k, so that the alternating scenario's first rotation (which
		// creates the clone) and second (back to the original) both fail at k.
		id := newID()
		fired := false
		for r := range 2 {
			h, seen := failing(k)
			_, err := Rotate(e.t.Context(), e.api, id, h)
			what := "rotation " + strconv.Itoa(r+1) + ", database operation " + strconv.Itoa(k) + " failed"
			if seen() < k {
				if err != nil {
					e.t.Fatalf("%s: hook did not fire, yet: %v", what, err)
				}
				continue
			}
			fired = true // err may be nil: a failed probe (does pending log in yet?) is not fatal
			e.checkInterrupted(id, what)
			e.rerun(id, what, clean)
		}
		if !fired {
			if k < 4 {
				e.t.Fatalf("a clean rotation made only %d database operations", k-1)
			}
			e.t.Logf("%d database operations per rotation, each failed in turn", k-1)
			return
		}
	}
}

// lookAlike is a user a secret owns and an unrelated victim whose names differ only by the
// default clone suffix.
type lookAlike struct {
	name          string
	owned, victim string
}

// lookAlikes returns both ways of lookAlike, with names from unique: the rotated user named
// like the victim's clone (its alternate is the victim), and the victim named like the
// rotated user's clone.
func lookAlikes(unique func(prefix string) string) []lookAlike {
	clone := unique("victim") + "_clone"
	owner := unique("owner")
	return []lookAlike{
		{"secret of a look-alike clone", clone, strings.TrimSuffix(clone, "_clone")},
		{"look-alike clone exists", owner, owner + "_clone"},
	}
}

type failingHook struct {
	k, n  int
	close bool // close the connection instead of returning an error (a dropped connection)
}

var errInjected = errors.New("injected database failure")

func (h *failingHook) hook(ctx context.Context, conn *pgx.Conn, op string) error {
	h.n++
	if h.n != h.k {
		return nil
	}
	if h.close && conn != nil {
		return conn.Close(ctx) // the statement then runs on a closed connection and fails
	}
	return errInjected
}
