package pgxpoolconn

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/memo"
	"github.com/rotasafe/rotasafe/login"
)

// Credentials logs the new connections of pgx pools in with the credentials of a secret and
// survives its rotation. Configure hooks it into a *pgxpool.Config; Stats reports what its
// logins cost.
//
// Each new pool connection is logged in by the credential walk sqlconn and redisconn share:
// the secret's AWSCURRENT version, or the version that last worked while AWSCURRENT has not
// changed since; when PostgreSQL rejects it, AWSPENDING, read once for every login that found
// the same version rejected, then AWSCURRENT read again and AWSPREVIOUS. While every version
// is rejected, logins wait at a gate with growing jittered waits, so that a busy pool cannot
// lock the database account. Transient failures are retried with jittered backoff. The
// connection that logged in is the one the pool gets: see the package documentation.
//
// Connections already in a pool are never touched. A Credentials may configure several
// pools of the same secret; it is safe for concurrent use and owns no goroutines.
type Credentials struct {
	secretID string
	walk     *login.Walker
	logins   memo.Map[string, *account] // by version ID: what its secret says
	hosts    tlsMemo                    // TLS settings for a secret's host, parsed from a connection string
	self     selfLookup
	lookup   pgconn.LookupFunc // self.lookup, made once
}

// maxLogins bounds Credentials.logins: a secret has at most three labelled versions that
// matter at a time.
const maxLogins = 8

// NewCredentials returns the Credentials of secretID, read from src (a *cache.Cache, or any
// rotasafe.Source). It panics if src is nil, secretID is empty or an option is invalid: a
// programming error. A failed login returns a *rotasafe.ConnectError from the pool's
// Acquire (and so Query, QueryRow, Begin): the secret, every version tried with its label
// and why it failed, and the final cause, which errors.As reaches (a *pgconn.PgError, a
// *retry.ExhaustedError, context.DeadlineExceeded). It never holds a password.
func NewCredentials(src rotasafe.Source, secretID string, opts ...Option) *Credentials {
	var cfg config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	c := &Credentials{
		secretID: secretID,
		walk:     login.New(src, secretID, append([]login.Option{login.WithClient("pgxpoolconn")}, cfg.login...)...),
	}
	c.logins.Max, c.hosts.Max = maxLogins, maxTLSMemo
	c.lookup = c.self.lookup
	return c
}

// Configure makes every new connection of a pool built from cfg log in with the credentials
// of secretID, read from src (usually a *cache.Cache), and ride through its rotations. It is
// NewCredentials(src, secretID, opts...).Configure(cfg), for when the Stats are not needed,
// except that a nil src or an empty secretID is an error; an invalid option panics, as in
// NewCredentials:
//
//	cfg, err := pgxpool.ParseConfig("sslmode=verify-full pool_max_conns=20")
//	...
//	if err := pgxpoolconn.Configure(cfg, c, "prod/app/db"); err != nil { ... }
//	pool, err := pgxpool.NewWithConfig(ctx, cfg)
func Configure(cfg *pgxpool.Config, src rotasafe.Source, secretID string, opts ...Option) error {
	switch {
	case src == nil:
		return errors.New("pgxpoolconn: nil rotasafe.Source (pass a *cache.Cache)")
	case secretID == "":
		return errors.New("pgxpoolconn: empty secret ID")
	}
	return NewCredentials(src, secretID, opts...).Configure(cfg)
}

// New returns a pool whose connections log in with the credentials of secretID, read from
// src, for the common case: Configure on pgxpool.ParseConfig(""), that is pgx's defaults
// and the PG* environment variables (PGSSLMODE, PGSSLROOTCERT, PGAPPNAME, ...). A password
// from PGPASSWORD or a password file is ignored. Like pgxpool.NewWithConfig it does not
// connect; the first Acquire does.
func New(ctx context.Context, src rotasafe.Source, secretID string, opts ...Option) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig("")
	if err != nil {
		return nil, fmt.Errorf("pgxpoolconn: %w", err)
	}
	cfg.ConnConfig.Password = "" // from PGPASSWORD or a password file: the secret's wins
	if err := Configure(cfg, src, secretID, opts...); err != nil {
		return nil, err
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// errPassword is Configure's answer to a configuration that carries a password.
var errPassword = errors.New("pgxpoolconn: the pool configuration already has a password (from its connection string, PGPASSWORD or a password file); remove it: the credentials come from the secret")

// Configure makes every new connection of a pool built from cfg log in with the secret's
// credentials. It chains cfg's BeforeConnect, which runs first and sees the pool's copy of
// cfg.ConnConfig as usual; cfg's AfterConnect and every other hook run as they would
// without Configure.
//
// Each connection gets host, port, database, user and password from the secret; every
// other setting of cfg stays the application's: pool sizes and lifetimes, run-time
// parameters, tracers, dial and lookup functions, TLS and fallback settings. In detail:
//
//   - Database is the secret's dbname; when the secret has none, cfg's, or else "postgres".
//     A secret without a host keeps cfg's host and TLS settings.
//   - TLS: cfg's TLS settings for its first host are aimed at the secret's host (their
//     ServerName becomes that host where pgx had set it to cfg's). When cfg's host is a
//     unix socket directory, which is pgx's default when the connection string names no
//     host, pgx built no TLS settings, so they are parsed anew from cfg's connection string
//     (sslmode, sslrootcert, ...) for the secret's host, as pgx would had the string named
//     it. Hosts that cfg lists after its first are not used.
//
// Configure refuses a cfg that already carries a password, and a nil cfg. Configure a cfg
// once: each call adds a login to every new connection.
func (c *Credentials) Configure(cfg *pgxpool.Config) error {
	if cfg == nil || cfg.ConnConfig == nil {
		return errors.New("pgxpoolconn: Configure with a nil pool configuration (use pgxpool.ParseConfig)")
	}
	if cfg.ConnConfig.Password != "" {
		return errPassword
	}
	before := cfg.BeforeConnect
	cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
		if before != nil {
			if err := before(ctx, cc); err != nil {
				return err
			}
		}
		return c.connect(ctx, cc)
	}
	return nil
}

// Stats returns what the logins of c cost since it was made.
func (c *Credentials) Stats() rotasafe.LoginStats { return c.walk.Stats() }

// connect logs in for the new pool connection cc describes and sets cc up so that the
// pool's own connect takes over that session (handover.go).
func (c *Credentials) connect(ctx context.Context, cc *pgx.ConnConfig) error {
	var h *handover
	_, err := c.walk.Login(ctx, func(ctx context.Context, v rotasafe.Version) error {
		l, err := c.logins.Get(v.ID, func() (*account, error) { return c.parse(v) })
		if err != nil {
			return login.Unusable(err)
		}
		h = new(handover)
		if err := c.loginConfig(&h.lc, cc, l); err != nil {
			return err
		}
		class, err := h.login(ctx)
		return login.Mark(err, class)
	})
	if err != nil {
		return err
	}
	h.install(cc, c.lookup)
	return nil
}
