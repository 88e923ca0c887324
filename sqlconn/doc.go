// Package sqlconn is a database/sql driver.Connector that keeps logging in while AWS
// Secrets Manager rotates the database password. It reads the credentials through a
// cache.Cache and, when the database rejects them, refreshes AWSCURRENT, falls back to
// AWSPENDING and AWSPREVIOUS during the rotation window, and retries transient failures
// with jittered backoff, all within the connect's context.
//
//	c := cache.New(secretsmanager.NewFromConfig(awsCfg))
//	defer c.Close()
//	db := sql.OpenDB(sqlconn.NewPostgres(c, "prod/app/db",
//		sqlconn.WithParams(map[string]string{"sslmode": "verify-full"})))
//	defer db.Close()
//
// Rejected credentials cost little: a burst of connects that find AWSCURRENT stale makes
// one Secrets Manager call (the cache coalesces them and refreshes a secret at most once per
// its minimum interval), the version that worked is kept until AWSCURRENT changes, and
// while every version is rejected the Connector lets one login round through at a time,
// with growing waits, so that a busy pool cannot lock the database account. When it gives
// up, Connect returns a *ConnectError naming the secret, the versions tried and why each
// failed, never a password.
//
// The PostgreSQL part (pgx v5's stdlib connector, SQLSTATE classification) sits behind the
// Driver interface; New takes any Driver.
package sqlconn
