package sqlconn

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/memo"
	"github.com/rotasafe/rotasafe/login"
)

// Connector is a database/sql driver.Connector that logs in with the credentials of a secret
// and survives its rotation. Open a *sql.DB with sql.OpenDB.
//
// Connect logs in with the secret's AWSCURRENT version, or with the version that last
// worked while AWSCURRENT has not changed since. When the database rejects it, the
// Connector reads AWSPENDING once (one call for every connect that found the same version
// rejected): mid-rotation it holds the password the database just took, and after the
// rotation it sits on the new AWSCURRENT too. AWSCURRENT is read again only when that answer
// does not say where it is, and AWSPREVIOUS only when nothing newer logs in. While every
// version is rejected, logins wait at a gate shared by all connects, with growing jittered
// waits, so that a busy pool cannot lock the database account. Transient failures are
// retried after jittered waits within the context's deadline. A Connect that gives up
// returns a *rotasafe.ConnectError, which never holds a password. The logins are those of
// package login, as in every rotasafe client.
//
// Connections already open are never touched. A Connector owns no goroutines; the Source
// (a *cache.Cache) is the caller's to close.
type Connector struct {
	drv    Engine
	params map[string]string
	walk   *login.Walker
	conns  memo.Map[string, driver.Connector] // by version ID: the driver's connector built from it
}

// maxConns bounds Connector.conns: a secret has at most three labelled versions that
// matter at a time.
const maxConns = 8

var _ driver.Connector = (*Connector)(nil)

// New returns a Connector that logs in through the database engine d with the credentials
// of secretID, read from src (a *cache.Cache, or any rotasafe.Source). The secret's JSON is
// parsed and d builds one driver.Connector once per version, which later connects reuse.
//
// New panics if src or d is nil, secretID is empty or an option is invalid: a programming
// error.
func New(src rotasafe.Source, secretID string, d Engine, opts ...Option) *Connector {
	if d == nil {
		panic("sqlconn: New with a nil Engine")
	}
	var cfg config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	defaults := []login.Option{login.WithClient("sqlconn"), login.WithAttemptTimeout(DefaultConnectTimeout)}
	c := &Connector{drv: d, params: cfg.params, walk: login.New(src, secretID, append(defaults, cfg.login...)...)}
	c.conns.Max = maxConns
	return c
}

// DriverEngine is an Engine with a database/sql driver of its own, which a Connector's
// Driver method returns so that code inspecting db.Driver() sees it. Postgres is one: it
// returns pgx's driver.
type DriverEngine interface {
	Engine
	Driver() driver.Driver
}

// Driver returns the Engine's database/sql driver when it is a DriverEngine, and otherwise a
// driver whose Open explains that this connector has no data source name. It is part of
// driver.Connector.
func (c *Connector) Driver() driver.Driver {
	if d, ok := c.drv.(DriverEngine); ok {
		return d.Driver()
	}
	return noNameDriver{}
}

type noNameDriver struct{}

func (noNameDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("sqlconn: open by name is not supported; use sql.OpenDB with a *sqlconn.Connector")
}

// Connect logs in as described on Connector. When ctx has no deadline (database/sql's
// opener goroutine passes context.Background), the retry policy's MaxElapsed bounds the
// call, and each login attempt is bounded by the connect timeout either way.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	var conn driver.Conn
	_, err := c.walk.Login(ctx, func(ctx context.Context, v rotasafe.Version) error {
		dc, err := c.conns.Get(v.ID, func() (driver.Connector, error) { return c.build(v) })
		if err != nil {
			return login.Unusable(err)
		}
		cn, err := dc.Connect(ctx)
		if err == nil {
			conn = cn
			return nil
		}
		return login.Mark(err, c.drv.Classify(err))
	})
	if err != nil {
		return nil, err
	}
	return conn, nil
}

// build makes the driver's connector for version v.
func (c *Connector) build(v rotasafe.Version) (driver.Connector, error) {
	s, err := parseDBSecret(v)
	if err != nil {
		return nil, versionErr(v, err)
	}
	dc, err := c.drv.Connector(s, c.params)
	if err != nil {
		return nil, versionErr(v, err)
	}
	return dc, nil
}

// Stats returns what the Connector's logins cost since it was made.
func (c *Connector) Stats() rotasafe.LoginStats { return c.walk.Stats() }

// parseDBSecret parses the database secret JSON of v, from SecretString or SecretBinary.
func parseDBSecret(v rotasafe.Version) (rotasafe.DBSecret, error) {
	data := []byte(v.SecretString)
	if v.SecretString == "" && v.SecretBinary != nil {
		data = v.SecretBinary
	}
	return rotasafe.ParseDBSecret(data)
}

// versionErr names the version a secret could not be used from. The cause is a
// *rotasafe.SecretFormatError or an Engine's error, neither of which quotes the value.
func versionErr(v rotasafe.Version, err error) error {
	return &versionError{id: v.ID, err: err}
}

type versionError struct {
	id  string
	err error
}

func (e *versionError) Error() string { return "version " + e.id + ": " + e.err.Error() }

func (e *versionError) Unwrap() error { return e.err }
