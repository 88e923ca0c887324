package sqlconn

import (
	"github.com/rotasafe/rotasafe"
)

// NewPostgres returns a Connector that logs in to PostgreSQL through pgx v5's stdlib
// connector with the credentials in secretID, read from src (usually a *cache.Cache). It is
// New with the Postgres Engine:
//
//	c := cache.New(secretsmanager.NewFromConfig(cfg))
//	defer c.Close()
//	db := sql.OpenDB(sqlconn.NewPostgres(c, "prod/app/db",
//		sqlconn.WithParams(map[string]string{"sslmode": "verify-full", "application_name": "orders"})))
//	defer db.Close()
//
// The secret is the JSON AWS documents for database secrets (rotasafe.DBSecret): host,
// port, username, password, dbname.
func NewPostgres(src rotasafe.Source, secretID string, opts ...Option) *Connector {
	return New(src, secretID, Postgres{}, opts...)
}
