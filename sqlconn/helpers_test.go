package sqlconn_test

import (
	"database/sql"
	"os"
	"testing"

	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/internal/testserver/secretenv"
	"github.com/rotasafe/rotasafe/sqlconn"
)

func TestMain(m *testing.M) {
	// The tests wait on PostgreSQL and MariaDB far more than they compute: four at once keep
	// two cores busy where one per core leaves them idle.
	testserver.WaitingParallel(4)
	code := m.Run()
	pgtest.CloseShared()
	os.Exit(code)
}

// env is the suite's database role and secret (secretenv.Postgres) with the Connectors
// the tests open on it.
type env struct{ *secretenv.Postgres }

// newEnv makes a role with a fresh password and a secret holding it as AWSCURRENT. A nil
// cluster means the shared one.
func newEnv(tb testing.TB, pg *pgtest.Cluster) *env {
	tb.Helper()
	return &env{secretenv.NewPostgres(tb, pg, 0)}
}

// connector returns a Connector for the env's secret over a cache of its own.
func (e *env) connector(tb testing.TB, opts ...sqlconn.Option) *sqlconn.Connector {
	tb.Helper()
	// pgtest's clusters have no TLS: without sslmode=disable each login would first try
	// TLS and be refused.
	opts = append([]sqlconn.Option{sqlconn.WithParams(map[string]string{"sslmode": "disable"})}, opts...)
	return sqlconn.NewPostgres(e.NewCache(tb), e.SecretID, opts...)
}

// openDB opens a *sql.DB over c and closes it when the test ends.
func openDB(tb testing.TB, c *sqlconn.Connector) *sql.DB {
	db := sql.OpenDB(c)
	tb.Cleanup(func() { db.Close() })
	return db
}
