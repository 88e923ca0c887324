// Package secretenv is the test setup the database clients' suites (sqlconn, pgxpoolconn)
// share: a database user whose password lives in a secret of an in-process Secrets Manager,
// both real (a server from pgtest and the aws-sdk-go-v2 client against smtest), rotated by
// the test as Secrets Manager rotates it, with caches over that Secrets Manager. It imports
// none of the client packages nor rotate: each suite builds its connector or pool on top.
//
//	e := secretenv.NewPostgres(t, nil, 0)
//	c := sqlconn.NewPostgres(e.NewCache(t), e.SecretID)
//	if err := e.Rotate(t.Context()); err != nil { ... }
package secretenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/scram"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/smtest"
)

// Env is a database user whose password lives in a secret of an smtest Secrets Manager. Its
// methods are safe for concurrent use once it is set up.
type Env struct {
	TB       testing.TB
	SM       *smtest.Server
	API      *secretsmanager.Client // SM's client
	SecretID string                 // the secret that holds User's password
	User     string

	// Secret returns the secret's fields for user and password.
	Secret func(user, password string) rotasafe.DBSecret
	// SetPassword changes user's password in the database, as setSecret does.
	SetPassword func(ctx context.Context, user, password string) error
	// LabelDelay is how long Rotate waits after the password change before it moves the
	// labels, as testSecret and finishSecret take a while in AWS.
	LabelDelay time.Duration
	// CacheOptions are added to NewCache's defaults, before the options of its call.
	CacheOptions []cache.Option

	mu        sync.Mutex // guards passwords
	passwords []string   // every password User has had, the current one last
}

// New returns an Env for user, whose password in the database is password now, on a new
// smtest server, with a secret named secretID holding secret(user, password) as AWSCURRENT.
func New(tb testing.TB, secretID, user, password string, secret func(user, password string) rotasafe.DBSecret,
	setPassword func(ctx context.Context, user, password string) error) *Env {
	tb.Helper()
	sm := smtest.New(tb)
	e := &Env{TB: tb, SM: sm, API: sm.Client(), SecretID: secretID, User: user, Secret: secret, SetPassword: setPassword,
		passwords: []string{password}}
	e.CreateSecret(secretID, secret(user, password))
	return e
}

// NewPassword returns a fresh random password.
func NewPassword() string { return "pw-" + rand.Text() }

// SecretJSON returns s as the secret's JSON, failing the test when it does not marshal.
func (e *Env) SecretJSON(s rotasafe.DBSecret) string {
	b, err := s.MarshalSecret()
	if err != nil {
		e.TB.Fatal(err)
	}
	return string(b)
}

// CreateSecret stores s under name and returns the secret's ARN.
func (e *Env) CreateSecret(name string, s rotasafe.DBSecret) string {
	e.TB.Helper()
	out, err := e.API.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(e.SecretJSON(s)),
	})
	if err != nil {
		e.TB.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// PutPending stores password as a new AWSPENDING version, as createSecret does, and returns
// the version ID.
func (e *Env) PutPending(ctx context.Context, password string) (string, error) {
	token := rand.Text() + rand.Text()
	_, err := e.API.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(e.SecretID),
		ClientRequestToken: aws.String(token),
		SecretString:       aws.String(e.SecretJSON(e.Secret(e.User, password))),
		VersionStages:      []string{rotasafe.StagePending},
	})
	return token, err
}

// Promote moves AWSCURRENT to the version versionID, as finishSecret does.
func (e *Env) Promote(ctx context.Context, versionID string) error {
	return rotasafe.Promote(ctx, e.API, e.SecretID, versionID)
}

// AlterPassword changes User's password in the database (SetPassword) and records it.
func (e *Env) AlterPassword(ctx context.Context, password string) error {
	if err := e.SetPassword(ctx, e.User, password); err != nil {
		return err
	}
	e.Record(password)
	return nil
}

// Record notes a password User now has, which something else than AlterPassword set (a
// rotation strategy, say), so that Passwords holds it.
func (e *Env) Record(password string) {
	e.mu.Lock()
	e.passwords = append(e.passwords, password)
	e.mu.Unlock()
}

// Passwords returns every password User has had, the current one last.
func (e *Env) Passwords() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.passwords)
}

// CheckNoPassword fails tb when a password User has had appears in text, which is what where
// names ("the connector's log").
func (e *Env) CheckNoPassword(tb testing.TB, where, text string) {
	tb.Helper()
	for _, pw := range e.Passwords() {
		if strings.Contains(text, pw) {
			tb.Fatalf("a password appears in %s", where)
		}
	}
}

// Current returns the password the database accepts now.
func (e *Env) Current() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.passwords[len(e.passwords)-1]
}

// Rotate runs one single-user rotation in the order Secrets Manager runs it: store the
// pending version, change the password, and move the labels LabelDelay later.
func (e *Env) Rotate(ctx context.Context) error {
	pw := NewPassword()
	id, err := e.PutPending(ctx, pw)
	if err != nil {
		return fmt.Errorf("createSecret: %w", err)
	}
	if err := e.AlterPassword(ctx, pw); err != nil {
		return fmt.Errorf("setSecret: %w", err)
	}
	time.Sleep(e.LabelDelay)
	if err := e.Promote(ctx, id); err != nil {
		return fmt.Errorf("finishSecret: %w", err)
	}
	return nil
}

// NewCache returns a cache over the env's Secrets Manager, closed when the test ends: a
// forced-refresh floor of 250ms, a NegativeTTL of 100ms (the cache remembers AWSPENDING,
// present or not, that long, and the tests rotate many times a second) and no logger, then
// CacheOptions, then opts.
func (e *Env) NewCache(tb testing.TB, opts ...cache.Option) *cache.Cache {
	all := []cache.Option{cache.WithMinRefreshInterval(MinRefreshInterval), cache.WithNegativeTTL(100 * time.Millisecond),
		cache.WithLogger(nil)}
	all = append(append(all, e.CacheOptions...), opts...)
	c := cache.New(e.API, all...)
	tb.Cleanup(func() { c.Close() })
	return c
}

// MinRefreshInterval is the floor on forced refreshes of NewCache's caches.
const MinRefreshInterval = 250 * time.Millisecond

// ScramIterations is the iteration count of the verifiers Postgres stores unless told
// otherwise. The client repeats the server's count at every login, so PostgreSQL's default
// 4096 would make PBKDF2 under -race dominate the tests.
const ScramIterations = 64

// Postgres is an Env on a PostgreSQL cluster: a role with a superuser connection that changes
// its password.
type Postgres struct {
	*Env
	PG    *pgtest.Cluster
	Super *pgx.Conn // superuser connection that changes the role's password
}

// NewPostgres makes a role with a fresh password and a secret holding it as AWSCURRENT. A
// nil cluster means the shared one (pgtest.Shared); the role's SCRAM verifiers use
// iterations, or ScramIterations when it is 0.
func NewPostgres(tb testing.TB, pg *pgtest.Cluster, iterations int) *Postgres {
	tb.Helper()
	if pg == nil {
		pg = pgtest.Shared(tb)
	}
	if iterations == 0 {
		iterations = ScramIterations
	}
	ctx := context.Background()
	user, pw := pgtest.UniqueName("app"), NewPassword()
	if err := pg.CreateRole(ctx, user, pw); err != nil {
		tb.Fatal(err)
	}
	super, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { super.Close(context.Background()) })
	setPassword := func(ctx context.Context, user, password string) error {
		return alterRole(ctx, super, user, password, iterations)
	}
	if err := setPassword(ctx, user, pw); err != nil { // a verifier with iterations
		tb.Fatal(err)
	}
	secret := func(user, password string) rotasafe.DBSecret {
		return rotasafe.DBSecret{Engine: "postgres", Host: pg.Host(), Port: pg.Port(), Username: user, Password: password, DBName: "postgres"}
	}
	return &Postgres{Env: New(tb, pgtest.UniqueName("prod/app/db"), user, pw, secret, setPassword), PG: pg, Super: super}
}

// alterRole changes role's password, sending a SCRAM verifier rather than the password.
func alterRole(ctx context.Context, super *pgx.Conn, role, password string, iterations int) error {
	salt := make([]byte, 16)
	rand.Read(salt)
	v, err := scram.Verifier(password, salt, iterations)
	if err != nil {
		return err
	}
	lit, err := super.PgConn().EscapeString(v)
	if err != nil {
		return err
	}
	_, err = super.Exec(ctx, "ALTER ROLE "+pgx.Identifier{role}.Sanitize()+" PASSWORD '"+lit+"'")
	return err
}
