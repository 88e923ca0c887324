//lint:file-ignore SA1019 rotate.Rotate, deprecated for Handler.Rotate, stays callable; these callers drive one Handler through the API of their test server.

package pgxpoolconn_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/internal/testserver/secretenv"
	"github.com/rotasafe/rotasafe/pgxpoolconn"
	"github.com/rotasafe/rotasafe/rotate"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.CloseShared()
	os.Exit(code)
}

// labelDelay is how long after setSecret the labels move in a single-user rotation, as
// testSecret and finishSecret take a while in AWS.
const labelDelay = 150 * time.Millisecond

// env is the suite's database role and secret (secretenv.Postgres) with the pools the tests
// open on it; its single-user rotations move the labels labelDelay after the password.
type env struct{ *secretenv.Postgres }

// newEnv makes a role with a fresh password and a secret holding it as AWSCURRENT. A nil
// cluster means the shared one.
func newEnv(tb testing.TB, pg *pgtest.Cluster) *env {
	tb.Helper()
	e := &env{secretenv.NewPostgres(tb, pg, 0)}
	e.LabelDelay = labelDelay
	return e
}

// alternating turns the env's secret into one that rotate's alternating-users strategy
// rotates, with the superuser's secret as its master, and returns a function that runs one
// such rotation.
func (e *env) alternating() func(context.Context) error {
	e.TB.Helper()
	master := e.CreateSecret(pgtest.UniqueName("master"), e.Secret(e.PG.SuperUser(), e.PG.SuperPassword()))
	pw := e.Passwords()[0]
	s := e.Secret(e.User, pw)
	s.MasterARN = master
	if _, err := e.API.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(e.SecretID), SecretString: aws.String(e.SecretJSON(s)),
	}); err != nil {
		e.TB.Fatal(err)
	}
	h := rotate.NewHandler(e.API, rotate.PostgresAlternatingUsers(rotate.WithTLSMode(rotate.TLSDisable)), rotate.WithLogger(nil))
	return func(ctx context.Context) error {
		id, err := rotate.Rotate(ctx, e.API, e.SecretID, h)
		if err != nil {
			return err
		}
		v, err := rotasafe.Fetch(ctx, e.API, e.SecretID, id, "")
		if err != nil {
			return err
		}
		if s, err := rotasafe.ParseDBSecret([]byte(v.SecretString)); err == nil {
			e.Record(s.Password)
		}
		return nil
	}
}

// poolConfig parses connString (pgtest's clusters have no TLS, so it should say
// sslmode=disable or prefer) and configures it with the env's secret.
func (e *env) poolConfig(tb testing.TB, connString string, opts ...pgxpoolconn.Option) (*pgxpool.Config, *pgxpoolconn.Credentials) {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		tb.Fatal(err)
	}
	creds := pgxpoolconn.NewCredentials(e.NewCache(tb), e.SecretID, opts...)
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
