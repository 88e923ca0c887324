//lint:file-ignore SA1019 rotate.Rotate, deprecated for Handler.Rotate, stays callable; these callers drive one Handler through the API of their test server.

package pgxpoolconn_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/scram"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/pgxpoolconn"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/smtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.CloseShared()
	os.Exit(code)
}

// sharedCluster returns the test binary's cluster (pgtest.Shared).
func sharedCluster(tb testing.TB) *pgtest.Cluster {
	tb.Helper()
	return pgtest.Shared(tb)
}

// env is a database role whose password lives in a secret of an in-process Secrets
// Manager, both real: a PostgreSQL cluster from pgtest and the aws-sdk-go-v2 client
// against smtest.
type env struct {
	tb       testing.TB
	pg       *pgtest.Cluster
	sm       *smtest.Server
	api      *secretsmanager.Client
	secretID string
	role     string
	super    *pgx.Conn // superuser connection that changes the role's password

	mu        sync.Mutex // guards passwords
	passwords []string   // every password the role has had
}

// newEnv makes a role with a fresh password and a secret holding it as AWSCURRENT. A nil
// cluster means the shared one.
func newEnv(tb testing.TB, pg *pgtest.Cluster) *env {
	tb.Helper()
	if pg == nil {
		pg = sharedCluster(tb)
	}
	ctx := context.Background()
	e := &env{tb: tb, pg: pg, sm: smtest.New(tb), role: pgtest.UniqueName("app"), secretID: pgtest.UniqueName("prod/app/db")}
	e.api = e.sm.Client()
	pw := newPassword()
	if err := pg.CreateRole(ctx, e.role, pw); err != nil {
		tb.Fatal(err)
	}
	super, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { super.Close(context.Background()) })
	e.super = super
	if err := e.alterPassword(ctx, pw); err != nil { // a verifier with scramIterations
		tb.Fatal(err)
	}
	e.createSecret(e.secretID, e.secret(e.role, pw))
	return e
}

func newPassword() string { return "pw-" + rand.Text() }

func (e *env) secret(user, password string) rotasafe.DBSecret {
	return rotasafe.DBSecret{Engine: "postgres", Host: e.pg.Host(), Port: e.pg.Port(), Username: user, Password: password, DBName: "postgres"}
}

func (e *env) secretJSON(s rotasafe.DBSecret) string {
	b, err := s.MarshalSecret()
	if err != nil {
		e.tb.Fatal(err)
	}
	return string(b)
}

// createSecret stores s under name and returns the secret's ARN.
func (e *env) createSecret(name string, s rotasafe.DBSecret) string {
	e.tb.Helper()
	out, err := e.api.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(e.secretJSON(s)),
	})
	if err != nil {
		e.tb.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// allPasswords returns every password the role has had.
func (e *env) allPasswords() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.passwords...)
}

// putPending stores password as a new AWSPENDING version, as createSecret does, and
// returns the version ID.
func (e *env) putPending(ctx context.Context, password string) (string, error) {
	token := rand.Text() + rand.Text()
	_, err := e.api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(e.secretID),
		ClientRequestToken: aws.String(token),
		SecretString:       aws.String(e.secretJSON(e.secret(e.role, password))),
		VersionStages:      []string{rotasafe.StagePending},
	})
	return token, err
}

// scramIterations is the iteration count of the verifiers the tests store. The client
// repeats the server's count at every login, so PostgreSQL's default 4096 would make PBKDF2
// under -race dominate the tests.
const scramIterations = 64

// alterPassword changes the role's password in the database, as setSecret does, sending
// a SCRAM verifier rather than the password.
func (e *env) alterPassword(ctx context.Context, password string) error {
	salt := make([]byte, 16)
	rand.Read(salt)
	v, err := scram.Verifier(password, salt, scramIterations)
	if err != nil {
		return err
	}
	lit, err := e.super.PgConn().EscapeString(v)
	if err != nil {
		return err
	}
	if _, err := e.super.Exec(ctx, "ALTER ROLE "+pgx.Identifier{e.role}.Sanitize()+" PASSWORD '"+lit+"'"); err != nil {
		return err
	}
	e.mu.Lock()
	e.passwords = append(e.passwords, password)
	e.mu.Unlock()
	return nil
}

// labelDelay is how long after setSecret the labels move in a single-user rotation, as
// testSecret and finishSecret take a while in AWS.
const labelDelay = 150 * time.Millisecond

// rotate runs one single-user rotation in the order Secrets Manager runs it: store the
// pending version, change the password, and move the labels labelDelay later.
func (e *env) rotate(ctx context.Context) error {
	pw := newPassword()
	id, err := e.putPending(ctx, pw)
	if err != nil {
		return fmt.Errorf("createSecret: %w", err)
	}
	if err := e.alterPassword(ctx, pw); err != nil {
		return fmt.Errorf("setSecret: %w", err)
	}
	time.Sleep(labelDelay)
	if err := rotasafe.Promote(ctx, e.api, e.secretID, id); err != nil {
		return fmt.Errorf("finishSecret: %w", err)
	}
	return nil
}

// alternating turns the env's secret into one that rotate's alternating-users strategy
// rotates, with the superuser's secret as its master, and returns a function that runs one
// such rotation.
func (e *env) alternating() func(context.Context) error {
	e.tb.Helper()
	master := e.createSecret(pgtest.UniqueName("master"), e.secret(e.pg.SuperUser(), e.pg.SuperPassword()))
	pw := e.allPasswords()[0]
	s := e.secret(e.role, pw)
	s.MasterARN = master
	if _, err := e.api.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(e.secretID), SecretString: aws.String(e.secretJSON(s)),
	}); err != nil {
		e.tb.Fatal(err)
	}
	h := rotate.NewHandler(e.api, rotate.PostgresAlternatingUsers(rotate.WithTLSMode(rotate.TLSDisable)), rotate.WithLogger(nil))
	return func(ctx context.Context) error {
		id, err := rotate.Rotate(ctx, e.api, e.secretID, h)
		if err != nil {
			return err
		}
		v, err := rotasafe.Fetch(ctx, e.api, e.secretID, id, "")
		if err != nil {
			return err
		}
		if s, err := rotasafe.ParseDBSecret([]byte(v.SecretString)); err == nil {
			e.mu.Lock()
			e.passwords = append(e.passwords, s.Password)
			e.mu.Unlock()
		}
		return nil
	}
}

// newCache returns a cache over the env's Secrets Manager, closed when the test ends.
func (e *env) newCache(tb testing.TB, opts ...cache.Option) *cache.Cache {
	// A short NegativeTTL: the cache remembers AWSPENDING (present or not) that long, and
	// the tests rotate many times a second.
	opts = append([]cache.Option{cache.WithMinRefreshInterval(250 * time.Millisecond), cache.WithNegativeTTL(100 * time.Millisecond),
		cache.WithLogger(nil)}, opts...)
	c := cache.New(e.api, opts...)
	tb.Cleanup(func() { c.Close() })
	return c
}

// poolConfig parses connString (pgtest's clusters have no TLS, so it should say
// sslmode=disable or prefer) and configures it with the env's secret.
func (e *env) poolConfig(tb testing.TB, connString string, opts ...pgxpoolconn.Option) (*pgxpool.Config, *pgxpoolconn.Credentials) {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		tb.Fatal(err)
	}
	creds := pgxpoolconn.NewCredentials(e.newCache(tb), e.secretID, opts...)
	if err := creds.Configure(cfg); err != nil {
		tb.Fatal(err)
	}
	return cfg, creds
}

// newPool opens a pool over cfg, closed when the test ends.
func newPool(tb testing.TB, cfg *pgxpool.Config) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}
