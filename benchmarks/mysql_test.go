package benchmarks

import (
	"database/sql/driver"
	"net"
	"strconv"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
	"github.com/rotasafe/rotasafe/smtest"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// gosqldriverConnector is plain go-sql-driver/mysql with the secret's credentials: the peer of
// sqlconn.NewMySQL.
func gosqldriverConnector(s rotasafe.DBSecret) (driver.Connector, error) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.PortOrDefault()))
	cfg.User, cfg.Passwd, cfg.DBName = s.Username, s.Password, s.DBName
	return mysql.NewConnector(cfg)
}

// BenchmarkMySQLConnect opens and closes one connection to a real MariaDB (internal/testserver/mysqltest):
// sqlconn.NewMySQL (credentials from a warm cache; the expired-password guard on, on MariaDB's
// default disconnect_on_expired_password=OFF) vs go-sql-driver/mysql's connector with the
// same credentials.
// Report the median ratio.
func BenchmarkMySQLConnect(b *testing.B) {
	s := mysqltest.New(b)
	user, pw := mysqltest.UniqueName("app"), mysqltest.UniqueName("pw") // a throw-away password of a throw-away user
	if err := s.CreateUser(b.Context(), user, pw); err != nil {
		b.Fatal(err)
	}
	secret := rotasafe.DBSecret{Engine: "mariadb", Host: s.Host(), Port: s.Port(), Username: user, Password: pw}
	client := smtest.New(b).Client()
	id := mysqltest.UniqueName("bench/mysql")
	js, err := secret.MarshalSecret()
	if err != nil {
		b.Fatal(err)
	}
	createSecret(b, client, id, string(js))
	c := cache.New(client, cache.WithLogger(nil))
	b.Cleanup(func() { c.Close() })
	ours := sqlconn.NewMySQL(c, id)
	peer, err := gosqldriverConnector(secret)
	if err != nil {
		b.Fatal(err)
	}
	benchConnect(b, connectorImpl{"rotasafe", ours}, connectorImpl{"gosqldriver", peer})
}
