package reliability

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/smtest"
)

// hangGuard bounds waits that only a hang reaches: a login or a query that must succeed, a
// server that must start, a condition the test waits for. It is no speed goal: the tests
// assert what happened (counts, errors, states), never how fast, so that they pass on a
// loaded machine as on an idle one.
const hangGuard = 2 * time.Minute

// long skips t under -short: the randomised crash and fault loops take most of the
// package's time, and `go test -short ./...` is the quick loop.
func long(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("a long randomised run: skipped with -short")
	}
}

// runWorkers runs n goroutines that each call work over and over until the returned stop is
// called; stop returns once they have all ended.
func runWorkers(n int, work func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				work()
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// debugLogger logs everything at debug level, as JSON (LogValue, MarshalJSON) and as text
// (String, Format) into buf.
func debugLogger(buf *testserver.Buffer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug, AddSource: true}
	return slog.New(fanout{slog.NewJSONHandler(buf, opts), slog.NewTextHandler(buf, opts)})
}

// fanout sends every record to each handler.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool { return true }

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range f {
		if err := h.Handle(ctx, r.Clone()); err != nil {
			return err
		}
	}
	return nil
}

func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	g := make(fanout, len(f))
	for i, h := range f {
		g[i] = h.WithAttrs(as)
	}
	return g
}

func (f fanout) WithGroup(name string) slog.Handler {
	g := make(fanout, len(f))
	for i, h := range f {
		g[i] = h.WithGroup(name)
	}
	return g
}

// env is a database server, an smtest server and a client of it that does not retry, so
// injected faults reach the code under test.
type env struct {
	t   testing.TB
	pg  *pgtest.Cluster // the PostgreSQL server, when db is one
	db  engine
	sm  *smtest.Server
	api *secretsmanager.Client

	mu      sync.Mutex // guards created
	created []string   // ARNs of the secrets createSecret made
}

// engine is what the suite needs of a database server: its admin's credentials, users,
// secrets that name it, and a login.
type engine interface {
	admin() (user, password string)
	createUser(ctx context.Context, user, password string) error
	secret(user, password, masterARN string) rotasafe.DBSecret
	login(ctx context.Context, s rotasafe.DBSecret) error
}

// newEnv returns an env on pg.
func newEnv(t testing.TB, pg *pgtest.Cluster, smOpts ...smtest.Option) *env {
	t.Helper()
	e := newEngineEnv(t, pgEngine{pg}, smOpts...)
	e.pg = pg
	return e
}

// newEngineEnv returns an env on db.
func newEngineEnv(t testing.TB, db engine, smOpts ...smtest.Option) *env {
	t.Helper()
	sm := smtest.New(t, smOpts...)
	return &env{t: t, db: db, sm: sm, api: sm.Client(fixture.NoRetry)}
}

// newPassword returns a fresh random password.
func newPassword() string { return "pw" + rand.Text() }

// scenario is a rotation strategy; keepsCurrent says whether AWSCURRENT logs in at every
// moment of a rotation (alternating users, dual password), not only AWSCURRENT or AWSPENDING
// (single user).
type scenario struct {
	name         string
	env          string // ROTATION_STRATEGY of examples/lambda-postgres or lambda-mysql
	strategy     func(opts ...rotate.DBOption) rotate.Strategy
	keepsCurrent bool
	rotations    int // under load, as issue 16 asks
}

var scenarios = []scenario{
	{"single_user", "SINGLE_USER", rotate.PostgresSingleUser, false, 20},
	{"alternating_users", "ALTERNATING_USERS", rotate.PostgresAlternatingUsers, true, 10},
}

func (sc scenario) handler(api rotasafe.API, opts ...rotate.Option) *rotate.Handler {
	return rotate.NewHandler(api, sc.strategy(rotate.WithTLSMode(rotate.TLSDisable)), opts...)
}

func (e *env) dbSecret(user, password, masterARN string) rotasafe.DBSecret {
	return e.db.secret(user, password, masterARN)
}

// createSecret stores value under a new name and returns the secret's ARN.
func (e *env) createSecret(value string) string {
	e.t.Helper()
	out, err := e.api.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(pgtest.UniqueName("db")), SecretString: aws.String(value)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.created = append(e.created, aws.ToString(out.ARN))
	return aws.ToString(out.ARN)
}

// master stores the admin's secret and returns its ARN.
func (e *env) master() string {
	e.t.Helper()
	user, pw := e.db.admin()
	b, err := e.dbSecret(user, pw, "").MarshalSecret()
	if err != nil {
		e.t.Fatal(err)
	}
	return e.createSecret(string(b))
}

// newDBSecret makes a login user with a fresh password and a secret for it that names
// masterARN, and returns the secret's ARN and the password.
func (e *env) newDBSecret(masterARN string) (string, string) {
	e.t.Helper()
	user, pw := pgtest.UniqueName("app"), newPassword()
	if err := e.db.createUser(context.Background(), user, pw); err != nil {
		e.t.Fatal(err)
	}
	b, err := e.dbSecret(user, pw, masterARN).MarshalSecret()
	if err != nil {
		e.t.Fatal(err)
	}
	return e.createSecret(string(b)), pw
}

// rotationFunc is a rotation Lambda's handler, as smtest invokes it.
type rotationFunc func(context.Context, rotasafe.Event) error

// registerRotation registers sc's handler as the rotation function named after sc with
// smtest, seen through wrap when wrap is not nil, and returns the function's ARN.
func (e *env) registerRotation(sc scenario, wrap func(ctx context.Context, ev rotasafe.Event, handle rotationFunc) error) string {
	fn := "arn:aws:lambda:us-east-1:123456789012:function:" + sc.name
	handle := sc.handler(e.api).Handle
	if wrap == nil {
		e.sm.RegisterRotationFunc(fn, handle)
	} else {
		e.sm.RegisterRotationFunc(fn, func(ctx context.Context, ev rotasafe.Event) error { return wrap(ctx, ev, handle) })
	}
	return fn
}

// rotateSecret calls RotateSecret on id with function fn and returns the error of the call,
// or else how the rotation ended (smtest answers 200 when a step fails, as AWS does).
func (e *env) rotateSecret(ctx context.Context, id, fn, token string) error {
	in := &secretsmanager.RotateSecretInput{SecretId: aws.String(id), RotationLambdaARN: aws.String(fn)}
	if token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	if _, err := e.api.RotateSecret(ctx, in); err != nil {
		return err
	}
	return e.sm.LastRotationError(id)
}

// fetch reads the version of id that holds stage, parsed; ok is false when none does.
func (e *env) fetch(id, stage string) (rotasafe.DBSecret, bool) {
	e.t.Helper()
	v, err := rotasafe.Fetch(context.Background(), e.api, id, "", stage)
	if rotasafe.IsNotFound(err) {
		return rotasafe.DBSecret{}, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		e.t.Fatalf("%s: %v", stage, err)
	}
	return s, true
}

// login connects with s and runs a query.
func (e *env) login(s rotasafe.DBSecret) error {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	return e.db.login(ctx, s)
}

// passwords returns every password every version of the secrets held.
func (e *env) passwords(ids ...string) []string {
	e.t.Helper()
	var out []string
	for _, v := range e.values(ids...) {
		if s, err := rotasafe.ParseDBSecret([]byte(v.SecretString)); err == nil {
			out = append(out, s.Password)
		}
	}
	return out
}

// values returns every version of the secrets that has a value.
func (e *env) values(ids ...string) []rotasafe.Version {
	e.t.Helper()
	var out []rotasafe.Version
	for _, id := range ids {
		for _, v := range e.sm.Versions(id) {
			if !v.HasValue {
				continue
			}
			ver, err := rotasafe.Fetch(context.Background(), e.api, id, v.ID, "")
			if err != nil {
				e.t.Fatal(err)
			}
			out = append(out, ver)
		}
	}
	return out
}

func (e *env) stageLogsIn(id, stage string) bool {
	e.t.Helper()
	s, ok := e.fetch(id, stage)
	return ok && e.login(s) == nil
}

func (e *env) labels(id string) rotasafe.Stages {
	e.t.Helper()
	l, err := rotasafe.DescribeStages(context.Background(), e.api, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// checkLabels fails unless exactly one version holds AWSCURRENT and at most one AWSPENDING.
func (e *env) checkLabels(id, what string) rotasafe.Stages {
	e.t.Helper()
	l := e.labels(id)
	cur, pend := 0, 0
	for v := range l {
		if l.Has(v, rotasafe.StageCurrent) {
			cur++
		}
		if l.Has(v, rotasafe.StagePending) {
			pend++
		}
	}
	if cur != 1 || pend > 1 {
		e.t.Fatalf("%s: %d versions hold AWSCURRENT and %d AWSPENDING; want 1 and at most 1: %v", what, cur, pend, l)
	}
	return l
}

// checkInterrupted asserts the invariant after an interrupted rotation of sc: AWSCURRENT or
// AWSPENDING logs in, exactly one AWSCURRENT and at most one AWSPENDING; and AWSCURRENT logs
// in where sc.keepsCurrent promises it.
func (e *env) checkInterrupted(sc scenario, id, what string) {
	e.t.Helper()
	e.checkLabels(id, what)
	if !e.stageLogsIn(id, rotasafe.StageCurrent) && !e.stageLogsIn(id, rotasafe.StagePending) {
		e.t.Fatalf("%s: neither AWSCURRENT nor AWSPENDING logs in", what)
	}
	if sc.keepsCurrent && !e.stageLogsIn(id, rotasafe.StageCurrent) {
		e.t.Fatalf("%s: AWSCURRENT does not log in", what)
	}
}

// checkFinished asserts the state after a completed rerun: AWSCURRENT logs in, labels are
// consistent and no rotation is left half way.
func (e *env) checkFinished(id, what string) {
	e.t.Helper()
	l := e.checkLabels(id, what)
	if l.RotationInProgress() {
		e.t.Fatalf("%s: a rotation is still in progress after the rerun: %v", what, l)
	}
	s, ok := e.fetch(id, rotasafe.StageCurrent)
	if !ok {
		e.t.Fatalf("%s: no AWSCURRENT", what)
	}
	if err := e.login(s); err != nil {
		e.t.Fatalf("%s: AWSCURRENT (user %s) does not log in: %v", what, s.Username, err)
	}
}

// checkRerun checks an interrupted rotation of sc (checkInterrupted), reruns it with rerun
// and checks that it finished (checkFinished).
func (e *env) checkRerun(sc scenario, id, what string, rerun func() error) {
	e.t.Helper()
	e.checkInterrupted(sc, id, what)
	if err := rerun(); err != nil {
		e.t.Fatalf("%s: rerun: %v", what, err)
	}
	e.checkFinished(id, what)
}

// race runs f(0) and f(1) at once, as two rotations racing, and returns what each returned.
func race(f func(j int) (string, error)) (got [2]string, errs [2]error) {
	var wg sync.WaitGroup
	for j := range 2 {
		wg.Go(func() { got[j], errs[j] = f(j) })
	}
	wg.Wait()
	return got, errs
}

// openDB opens a *sql.DB on a connector and closes it when the test ends. Connections are
// not kept idle, so every query logs in anew through the connector.
func openDB(t testing.TB, db *sql.DB) *sql.DB {
	t.Helper()
	db.SetMaxIdleConns(0)
	t.Cleanup(func() { db.Close() })
	return db
}

// formats prints v under the verbs a log line or error message may use.
func formats(v any) string {
	return fmt.Sprintf("%v\n%+v\n%#v\n%s\n%q\n%x\n", v, v, v, v, v, v)
}
