package sqlconn_test

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/smtest"
	"github.com/rotasafe/rotasafe/sqlconn"
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

	// cacheOpts are added to the options of the caches newCache makes.
	cacheOpts []cache.Option

	mu       sync.Mutex // guards password
	password string     // the password the database accepts now
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
	e.password = newPassword()
	if err := pg.CreateRole(ctx, e.role, e.password); err != nil {
		tb.Fatal(err)
	}
	super, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { super.Close(context.Background()) })
	e.super = super
	if err := e.alterPassword(ctx, e.password); err != nil { // store a verifier with scramIterations
		tb.Fatal(err)
	}
	if _, err := e.api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(e.secretID),
		SecretString: aws.String(e.secretJSON(e.password)),
	}); err != nil {
		tb.Fatal(err)
	}
	return e
}

func newPassword() string { return "pw-" + rand.Text() }

func (e *env) secretJSON(password string) string {
	b, err := rotasafe.DBSecret{
		Engine: "postgres", Host: e.pg.Host(), Port: e.pg.Port(), Username: e.role, Password: password, DBName: "postgres",
	}.MarshalSecret()
	if err != nil {
		e.tb.Fatal(err)
	}
	return string(b)
}

// currentPassword returns the password the database accepts now.
func (e *env) currentPassword() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.password
}

// putPending stores password as a new AWSPENDING version, as createSecret does, and
// returns the version ID.
func (e *env) putPending(ctx context.Context, password string) (string, error) {
	token := rand.Text() + rand.Text()
	_, err := e.api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(e.secretID),
		ClientRequestToken: aws.String(token),
		SecretString:       aws.String(e.secretJSON(password)),
		VersionStages:      []string{rotasafe.StagePending},
	})
	return token, err
}

// alterPassword changes the role's password in the database, as setSecret does, sending
// a SCRAM verifier rather than the password.
func (e *env) alterPassword(ctx context.Context, password string) error {
	lit, err := e.super.PgConn().EscapeString(scramVerifier(password))
	if err != nil {
		return err
	}
	if _, err := e.super.Exec(ctx, "ALTER ROLE "+pgx.Identifier{e.role}.Sanitize()+" PASSWORD '"+lit+"'"); err != nil {
		return err
	}
	e.mu.Lock()
	e.password = password
	e.mu.Unlock()
	return nil
}

// rotate runs one single-user rotation in the order Secrets Manager runs it: store the
// pending version, change the password, promote.
func (e *env) rotate(ctx context.Context) error {
	pw := newPassword()
	id, err := e.putPending(ctx, pw)
	if err != nil {
		return fmt.Errorf("createSecret: %w", err)
	}
	if err := e.alterPassword(ctx, pw); err != nil {
		return fmt.Errorf("setSecret: %w", err)
	}
	if err := rotasafe.Promote(ctx, e.api, e.secretID, id); err != nil {
		return fmt.Errorf("finishSecret: %w", err)
	}
	return nil
}

// scramIterations is the iteration count of the verifiers the tests store. The client
// repeats the server's count at every login, so 4096 (PostgreSQL's default) would make
// PBKDF2 under -race dominate the tests; benchmarks set it back to 4096.
var scramIterations = 64

// scramVerifier computes a SCRAM-SHA-256 verifier of an ASCII password (RFC 5802, RFC
// 7677), the form PostgreSQL stores, so the plaintext never reaches the server.
func scramVerifier(password string) string {
	iterations := scramIterations
	salt := make([]byte, 16)
	rand.Read(salt)
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	if err != nil {
		panic(err)
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	serverKey := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(serverKey))
}

func promote(ctx context.Context, e *env, versionID string) error {
	return rotasafe.Promote(ctx, e.api, e.secretID, versionID)
}

// newCache returns a cache over the env's Secrets Manager, closed when the test ends.
func (e *env) newCache(tb testing.TB, opts ...cache.Option) *cache.Cache {
	// A short NegativeTTL: the cache remembers AWSPENDING (present or not) that long, and
	// the tests rotate many times a second.
	opts = append([]cache.Option{cache.WithMinRefreshInterval(minRefreshInterval), cache.WithNegativeTTL(100 * time.Millisecond),
		cache.WithLogger(nil)}, append(e.cacheOpts, opts...)...)
	c := cache.New(e.api, opts...)
	tb.Cleanup(func() { c.Close() })
	return c
}

// connector returns a Connector for the env's secret over a cache of its own.
func (e *env) connector(tb testing.TB, opts ...sqlconn.Option) *sqlconn.Connector {
	tb.Helper()
	// pgtest's clusters have no TLS: without sslmode=disable each login would first try
	// TLS and be refused.
	opts = append([]sqlconn.Option{sqlconn.WithParams(map[string]string{"sslmode": "disable"})}, opts...)
	return sqlconn.NewPostgres(e.newCache(tb), e.secretID, opts...)
}

// minRefreshInterval is the floor on forced refreshes of the tests' caches.
const minRefreshInterval = 250 * time.Millisecond

// openDB opens a *sql.DB over c and closes it when the test ends.
func openDB(tb testing.TB, c *sqlconn.Connector) *sql.DB {
	db := sql.OpenDB(c)
	tb.Cleanup(func() { db.Close() })
	return db
}
