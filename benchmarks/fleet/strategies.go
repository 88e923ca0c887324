package fleet

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/retry"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// rotasafeInstance is a cache.Cache and an sqlconn.Connector over the stand-in database.
type rotasafeInstance struct {
	c    *cache.Cache
	conn *sqlconn.Connector
}

func newRotasafe(client *secretsmanager.Client, id string, db *fakeDB, cfg Config, dil func(time.Duration) time.Duration, now func() time.Time) *rotasafeInstance {
	c := cache.New(client,
		cache.WithTTL(cfg.TTL),
		cache.WithFetchTimeout(dil(cache.DefaultFetchTimeout)), // a real timer
		cache.WithLogger(nil),
		// The simulation's virtual clock (modeled time). It also spares 10,000 coarse-clock
		// goroutines: with a clock given, the cache reads it on every hit.
		cache.WithClock(now),
	)
	p := sqlconn.DefaultPolicy()
	p.Initial, p.Max, p.MaxElapsed = dil(retry.DefaultInitial), dil(retry.DefaultMax), dil(sqlconn.DefaultMaxElapsed)
	return &rotasafeInstance{c: c, conn: sqlconn.New(c, id, fakeDriver{db}, sqlconn.WithRetry(p), sqlconn.WithLogger(nil))}
}

func (r *rotasafeInstance) connect(ctx context.Context) error {
	c, err := r.conn.Connect(ctx)
	if err != nil {
		return err
	}
	return c.Close()
}

func (r *rotasafeInstance) close() { r.c.Close() }

// fakeDriver is the sqlconn.Driver of the stand-in database.
type fakeDriver struct{ db *fakeDB }

func (f fakeDriver) Connector(s rotasafe.DBSecret, _ map[string]string) (driver.Connector, error) {
	return &fakeConnector{db: f.db, password: s.Password}, nil
}

func (fakeDriver) Classify(err error) sqlconn.Class {
	if errors.Is(err, errAuth) {
		return sqlconn.ClassAuth
	}
	return sqlconn.ClassOther
}

type fakeConnector struct {
	db       *fakeDB
	password string
}

func (f *fakeConnector) Connect(context.Context) (driver.Conn, error) {
	if err := f.db.login(f.password); err != nil {
		return nil, err
	}
	return fakeConn{}, nil
}

func (f *fakeConnector) Driver() driver.Driver { return fakeDriverDriver{} }

type fakeDriverDriver struct{}

func (fakeDriverDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("fleet: use the connector")
}

type fakeConn struct{}

func (fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("fleet: no statements") }
func (fakeConn) Close() error                        { return nil }
func (fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("fleet: no transactions") }

// baseline is a fixed-TTL cache without coalescing or stale-if-error: every reader of an
// expired value calls GetSecretValue, and every rejected login refetches AWSCURRENT once and
// retries (the AWS JDBC wrapper's default, the AWS Advanced Go Wrapper).
type baseline struct {
	client *secretsmanager.Client
	id     string
	db     *fakeDB
	ttl    time.Duration
	now    func() time.Time // the simulation's virtual clock

	mu      sync.Mutex // guards the fields below
	value   string
	expires time.Time
}

func (b *baseline) fetch(ctx context.Context) (string, error) {
	out, err := b.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(b.id)})
	if err != nil {
		return "", err
	}
	v := aws.ToString(out.SecretString)
	b.mu.Lock()
	b.value, b.expires = v, b.now().Add(b.ttl)
	b.mu.Unlock()
	return v, nil
}

func (b *baseline) get(ctx context.Context) (string, error) {
	b.mu.Lock()
	v, fresh := b.value, b.now().Before(b.expires)
	b.mu.Unlock()
	if fresh {
		return v, nil
	}
	return b.fetch(ctx)
}

func (b *baseline) connect(ctx context.Context) error {
	v, err := b.get(ctx)
	if err != nil {
		return err
	}
	if b.login(v) == nil {
		return nil
	}
	if v, err = b.fetch(ctx); err != nil {
		return err
	}
	return b.login(v)
}

func (b *baseline) login(secretJSON string) error {
	s, err := rotasafe.ParseDBSecret([]byte(secretJSON))
	if err != nil {
		return err
	}
	return b.db.login(s.Password)
}

func (b *baseline) close() {}
