// Package pgxpoolconn keeps a github.com/jackc/pgx/v5/pgxpool pool logging in while AWS
// Secrets Manager rotates the database password. The application keeps a plain
// *pgxpool.Pool, for sqlc's pgx mode, pgx helpers and its own code; every new connection of
// the pool logs in with the secret's credentials, read through a cache.Cache, and when
// PostgreSQL rejects them it tries AWSPENDING and AWSPREVIOUS during the rotation window
// and retries transient failures, before Acquire sees anything.
//
//	c := cache.New(secretsmanager.NewFromConfig(awsCfg))
//	defer c.Close()
//	cfg, err := pgxpool.ParseConfig("sslmode=verify-full pool_max_conns=20")
//	if err != nil { ... }
//	if err := pgxpoolconn.Configure(cfg, c, "prod/app/db"); err != nil { ... }
//	pool, err := pgxpool.NewWithConfig(ctx, cfg)
//
// or, with pgx's defaults, pool, err := pgxpoolconn.New(ctx, c, "prod/app/db").
//
// The logins are package login's credential walk, as in sqlconn and redisconn, with the
// same options, errors, Stats and logging: a burst of new connections that find AWSCURRENT
// stale makes one Secrets Manager call, the version that worked is kept until AWSCURRENT
// changes, and while every version is rejected logins wait at a gate so that a busy pool
// cannot lock the account. When a login gives up, Acquire (and so Query, QueryRow and Begin)
// returns a *rotasafe.ConnectError naming the secret and the versions tried, never a
// password; errors.As reaches the *pgconn.PgError.
//
// How: pgx gives a pool one hook before each new connection, BeforeConnect, then makes
// exactly one connect whose failure goes straight to Acquire; no pgx hook supplies a
// password per attempt, and a rejected password ends pgx's fallback chain. So the login,
// with its retries, happens inside BeforeConnect, and the session it opened is handed over
// to the pool's connect instead of being closed and opened again: the pool's connect reads
// the server's recorded answer to the login and then talks to that session. There is no
// probe login: a new pool connection costs one login, as it does without this package
// (BenchmarkPoolConnect in benchmarks/ measures it against a plain pgxpool), and a password
// that changes between a probe and the real login cannot fail it.
// The connection's PgConn().Conn() is a wrapper around the network connection. Connections
// already in the pool are never touched; a rotation does not drain the pool.
package pgxpoolconn
