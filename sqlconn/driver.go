package sqlconn

import (
	"database/sql/driver"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/pgclass"
)

// Engine is the database-specific part of a Connector: it turns a secret into a
// driver.Connector and says what kind of failure a connect error is. A Connector calls
// Connector once per secret version (and memoises the result), and Classify after every
// failed connect.
//
// Implementations must be safe for concurrent use, must never put the password into an
// error they return, and must classify by error types and codes (errors.As), not by
// message text.
type Engine interface {
	// Connector returns a connector that logs in with the secret's credentials. params are
	// the extra connection parameters given to WithParams (nil when none); the caller does
	// not change them afterwards.
	Connector(secret rotasafe.DBSecret, params map[string]string) (driver.Connector, error)

	// Classify says whether a connect error is an authentication failure (try other
	// credentials), a transient failure (try again after a wait) or anything else (give up).
	// err may wrap the driver's error any number of times.
	Classify(err error) rotasafe.Class
}

// Postgres is the Engine for PostgreSQL through pgx v5's database/sql connector
// (stdlib.GetConnector). Its zero value is ready to use; NewPostgres uses it. It accepts
// secrets whose engine is empty, "postgres", "aurora-postgresql" or "redshift"; a host that
// starts with "/" is a unix socket directory.
//
// Connector accepts the parameters pgx's connection strings know (sslmode, sslrootcert,
// application_name, connect_timeout, search_path, ...). The parameters host, port and
// dbname (or database) override the secret's, for instance to connect through a proxy
// endpoint; user and password are refused, since the credentials come from the secret.
// Environment variables (PGHOST, PGPASSWORD, ...) and the password file are not consulted
// for anything the secret or the parameters set.
//
// Classify reports SQLSTATE 28P01 (invalid_password) and 28000
// (invalid_authorization_specification, which RDS Proxy and pg_hba.conf rejections use) as
// ClassAuth; 53300 (too_many_connections), 53000, 57P01 (admin_shutdown), 57P02, 57P03
// (cannot_connect_now), the connection exceptions 08000, 08001, 08003, 08004 and 08006,
// errors pgconn marks safe to retry, timeouts, refused or reset connections and an EOF
// during startup as ClassTransient.
type Postgres struct{}

var _ DriverEngine = Postgres{}

// paramsNotAllowed are connection parameters that would override the secret's credentials.
var paramsNotAllowed = []string{"user", "password", "passfile"}

// Connector builds a pgx connector for the secret. The password goes straight into the
// parsed configuration, never into a connection string, so no parse error can quote it.
func (Postgres) Connector(s rotasafe.DBSecret, params map[string]string) (driver.Connector, error) {
	for _, k := range paramsNotAllowed {
		if _, ok := params[k]; ok {
			return nil, fmt.Errorf("sqlconn: connection parameter %q is not allowed: the credentials come from the secret", k)
		}
	}
	if !pgclass.Engine(s.Engine) {
		return nil, fmt.Errorf("sqlconn: the secret's engine %q is not PostgreSQL", s.Engine)
	}
	host, port, db := s.Host, strconv.Itoa(s.PortOrDefault()), s.DBNameOrDefault()
	q := url.Values{}
	for k, v := range params {
		switch k {
		case "host":
			host = v
		case "port":
			port = v
		case "dbname", "database":
			db = v
		default:
			q.Set(k, v)
		}
	}
	u := url.URL{Scheme: "postgres", Path: "/" + db}
	if strings.HasPrefix(host, "/") { // a unix socket directory
		q.Set("host", host)
		q.Set("port", port)
	} else {
		u.Host = net.JoinHostPort(host, port)
	}
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		// ParseConfigError quotes the connection string, which holds no credentials here.
		return nil, fmt.Errorf("sqlconn: connection parameters for %s port %s: %w", host, port, err)
	}
	cfg.User = s.Username
	cfg.Password = s.Password
	return stdlib.GetConnector(*cfg), nil
}

// Classify sorts a pgx connect error into rotasafe.ClassAuth, rotasafe.ClassTransient or
// rotasafe.ClassOther, as pgxpoolconn does (internal/pgclass).
func (Postgres) Classify(err error) rotasafe.Class { return pgclass.Classify(err) }

// Driver returns pgx's database/sql driver, which a *Connector returns from its own
// Driver method so that code inspecting db.Driver() sees pgx.
func (Postgres) Driver() driver.Driver { return stdlib.GetDefaultDriver() }
