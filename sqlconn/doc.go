// Package sqlconn is a database/sql driver.Connector that keeps logging in while AWS
// Secrets Manager rotates the database password. Open a *sql.DB with it and read the
// credentials through a cache.Cache:
//
//	c := cache.New(secretsmanager.NewFromConfig(awsCfg))
//	defer c.Close()
//	db := sql.OpenDB(sqlconn.NewPostgres(c, "prod/app/db",
//		sqlconn.WithParams(map[string]string{"sslmode": "verify-full"})))
//	defer db.Close()
//
// When the database rejects a password, the Connector reads AWSPENDING once for every
// connect that met the same rejection and logs in with what it finds; a rotation costs each
// process about one Secrets Manager call and no error reaches the application. Transient
// failures are retried with jittered backoff within the connect's context. A connect that
// gives up returns a *rotasafe.ConnectError naming the secret and the versions tried, never
// a password. The PostgreSQL and MySQL parts sit behind the Engine interface; New takes any
// Engine. The logins are package login's, as in every rotasafe client.
package sqlconn
