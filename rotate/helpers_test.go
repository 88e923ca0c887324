package rotate

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/smtest"
)

// env is one PostgreSQL cluster, one Secrets Manager and a client that does not retry, so an
// injected fault reaches the handler.
type env struct {
	t   testing.TB
	pg  *pgtest.Cluster
	sm  *smtest.Server
	api *secretsmanager.Client
}

func newEnv(t testing.TB, opts ...pgtest.Option) *env {
	t.Helper()
	pg := pgtest.New(t, opts...)
	sm := smtest.New(t)
	return &env{t: t, pg: pg, sm: sm, api: sm.Client(func(o *secretsmanager.Options) { o.Retryer = aws.NopRetryer{} })}
}

// sub returns an env for subtest t on the same cluster with a Secrets Manager of its own, so
// that subtests can run in parallel and inject faults without touching each other.
func (e *env) sub(t testing.TB) *env {
	sm := smtest.New(t)
	return &env{t: t, pg: e.pg, sm: sm, api: sm.Client(func(o *secretsmanager.Options) { o.Retryer = aws.NopRetryer{} })}
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
func (e *env) createSecret(name string, s rotasafe.DBSecret) string {
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
func (e *env) fetch(id, stage string) (rotasafe.DBSecret, bool) {
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
func (e *env) labels(id string) rotasafe.Labels {
	e.t.Helper()
	l, err := rotasafe.DescribeLabels(e.t.Context(), e.api, id)
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
func (e *env) stageLogsIn(id, stage string) bool {
	e.t.Helper()
	s, ok := e.fetch(id, stage)
	return ok && e.login(e.t.Context(), s) == nil
}

// mustLogIn fails the test unless the version holding stage logs in.
func (e *env) mustLogIn(id, stage string) rotasafe.DBSecret {
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

// pendingHolders counts the versions that hold AWSPENDING.
func pendingHolders(l rotasafe.Labels) int {
	n := 0
	for id := range l {
		if l.Has(id, rotasafe.StagePending) {
			n++
		}
	}
	return n
}

// failingHook fails the k-th database operation (1-based) and counts them all.
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
