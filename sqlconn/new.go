package sqlconn

import (
	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
)

// NewPostgres returns a Connector that logs in to PostgreSQL through pgx v5's stdlib
// connector with the credentials in secretID, read through c. It is New with the Postgres
// Driver:
//
//	c := cache.New(secretsmanager.NewFromConfig(cfg))
//	defer c.Close()
//	db := sql.OpenDB(sqlconn.NewPostgres(c, "prod/app/db",
//		sqlconn.WithParams(map[string]string{"sslmode": "verify-full", "application_name": "orders"})))
//	defer db.Close()
//
// The secret is the JSON AWS documents for database secrets (rotasafe.DBSecret): host,
// port, username, password, dbname.
func NewPostgres(c *cache.Cache, secretID string, opts ...Option) *Connector {
	return New(c, secretID, Postgres{}, opts...)
}

// New returns a Connector that logs in through d with the credentials in secretID, read
// through c. The secret's JSON is parsed once per version (cache.Parsed) and d builds one
// driver.Connector per version, which later connects reuse.
//
// The Connector does not own c: close the cache after the last *sql.DB using it.
func New(c *cache.Cache, secretID string, d Driver, opts ...Option) *Connector {
	return newConnector(c, func(v rotasafe.Version) (rotasafe.DBSecret, error) {
		p, err := cache.Parsed(c, v, parseDBSecret)
		return p.s, err
	}, secretID, d, opts)
}

// parsedSecret is the type sqlconn memoises in the cache, its own so that no other parse
// function of a rotasafe.DBSecret shares the memo (cache.Parsed keys it by type).
type parsedSecret struct{ s rotasafe.DBSecret }

func parseDBSecret(v rotasafe.Version) (parsedSecret, error) {
	data := []byte(v.SecretString)
	if v.SecretString == "" && v.SecretBinary != nil {
		data = v.SecretBinary
	}
	s, err := rotasafe.ParseDBSecret(data)
	return parsedSecret{s}, err
}
