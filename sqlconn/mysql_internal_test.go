package sqlconn

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rotasafe/rotasafe"
)

// The password of the secrets below; no error may print it.
const mysqlTestPassword = `Sup3r-s3cret:/@?&=pw'"`

func TestMySQLConfig(t *testing.T) {
	t.Parallel()
	s := rotasafe.DBSecret{Engine: "mariadb", Host: "db.internal", Username: "app", Password: mysqlTestPassword}
	tests := []struct {
		name   string
		secret func(*rotasafe.DBSecret)
		params map[string]string
		check  func(t *testing.T, c *mysql.Config)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c *mysql.Config) {
				if c.Net != "tcp" || c.Addr != "db.internal:3306" || c.DBName != "" || c.TLS != nil || c.TLSConfig != "" {
					t.Errorf("got %s(%s)/%q tls %v %q, want tcp(db.internal:3306)/\"\" without TLS", c.Net, c.Addr, c.DBName, c.TLS, c.TLSConfig)
				}
				if c.User != "app" || c.Passwd != mysqlTestPassword {
					t.Errorf("got user %q and the secret's password: %v", c.User, c.Passwd == mysqlTestPassword)
				}
				if !c.AllowNativePasswords || c.AllowOldPasswords || c.AllowCleartextPasswords {
					t.Errorf("got native=%v old=%v cleartext=%v, want the driver's defaults true false false",
						c.AllowNativePasswords, c.AllowOldPasswords, c.AllowCleartextPasswords)
				}
			},
		},
		{
			name:   "empty engine, port 0: 3306",
			secret: func(s *rotasafe.DBSecret) { s.Engine = "" },
			check:  wantAddr("tcp", "db.internal:3306"),
		},
		{
			name:   "port and dbname from the secret",
			secret: func(s *rotasafe.DBSecret) { s.Engine, s.Port, s.DBName = "aurora-mysql", 3307, "orders" },
			check: func(t *testing.T, c *mysql.Config) {
				wantAddr("tcp", "db.internal:3307")(t, c)
				if c.DBName != "orders" {
					t.Errorf("got dbname %q, want orders", c.DBName)
				}
			},
		},
		{
			name:   "IPv6 host",
			secret: func(s *rotasafe.DBSecret) { s.Host = "::1" },
			check:  wantAddr("tcp", "[::1]:3306"),
		},
		{
			name:   "unix socket host",
			secret: func(s *rotasafe.DBSecret) { s.Host = "/run/mysqld/mysqld.sock" },
			check:  wantAddr("unix", "/run/mysqld/mysqld.sock"),
		},
		{
			name:   "host, port and database overrides",
			params: map[string]string{"host": "proxy.internal", "port": "6033", "database": "reports"},
			check: func(t *testing.T, c *mysql.Config) {
				wantAddr("tcp", "proxy.internal:6033")(t, c)
				if c.DBName != "reports" {
					t.Errorf("got dbname %q, want reports", c.DBName)
				}
			},
		},
		{
			name: "driver parameters",
			params: map[string]string{
				"charset": "utf8mb4,utf8", "collation": "utf8mb4_unicode_ci", "timeout": "3s", "readTimeout": "1m",
				"loc": "Europe/Paris", "parseTime": "true", "interpolateParams": "true", "connectionAttributes": "app:orders,team:a&b",
			},
			check: func(t *testing.T, c *mysql.Config) {
				if c.Timeout != 3*time.Second || c.ReadTimeout != time.Minute || c.Loc.String() != "Europe/Paris" ||
					!c.ParseTime || !c.InterpolateParams || c.Collation != "utf8mb4_unicode_ci" || c.ConnectionAttributes != "app:orders,team:a&b" {
					t.Errorf("got timeout %v readTimeout %v loc %v parseTime %v interpolate %v collation %q attrs %q",
						c.Timeout, c.ReadTimeout, c.Loc, c.ParseTime, c.InterpolateParams, c.Collation, c.ConnectionAttributes)
				}
				if dsn := c.FormatDSN(); !strings.Contains(dsn, "charset=utf8mb4,utf8") {
					t.Errorf("charset lost: DSN parameters %q", dsn[strings.Index(dsn, "?"):])
				}
				if len(c.Params) != 0 {
					t.Errorf("got session variables %v, want none", c.Params)
				}
			},
		},
		{
			name:   "session variables keep their value",
			params: map[string]string{"sql_mode": "'ANSI_QUOTES,STRICT_ALL_TABLES'", "time_zone": "'+00:00'", "x": "a&b=c%d"},
			check: func(t *testing.T, c *mysql.Config) {
				want := map[string]string{"sql_mode": "'ANSI_QUOTES,STRICT_ALL_TABLES'", "time_zone": "'+00:00'", "x": "a&b=c%d"}
				if fmt.Sprint(c.Params) != fmt.Sprint(want) {
					t.Errorf("got session variables %v, want %v", c.Params, want)
				}
			},
		},
		{
			name:   "tls=true verifies the real host",
			params: map[string]string{"tls": "true"},
			check: func(t *testing.T, c *mysql.Config) {
				// mysql.NewConnector normalizes a copy the way ParseDSN does; do the same.
				n, err := mysql.ParseDSN(c.FormatDSN())
				if err != nil {
					t.Fatal("ParseDSN of the configuration failed") // its error would quote the DSN
				}
				if n.TLS == nil || n.TLS.ServerName != "db.internal" || n.TLS.InsecureSkipVerify {
					t.Errorf("got TLS %+v, want verification of db.internal", n.TLS)
				}
			},
		},
		{
			name:   "cleartext over verified TLS",
			params: map[string]string{"tls": "true", "allowCleartextPasswords": "true"},
			check: func(t *testing.T, c *mysql.Config) {
				if !c.AllowCleartextPasswords {
					t.Error("allowCleartextPasswords lost")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := s
			if tt.secret != nil {
				tt.secret(&s)
			}
			c, err := mysqlConfig(s, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
			if _, err := (MySQL{}).Connector(s, tt.params); err != nil {
				t.Errorf("Connector: %v", err)
			}
		})
	}
}

func wantAddr(network, addr string) func(*testing.T, *mysql.Config) {
	return func(t *testing.T, c *mysql.Config) {
		t.Helper()
		if c.Net != network || c.Addr != addr {
			t.Errorf("got %s(%s), want %s(%s)", c.Net, c.Addr, network, addr)
		}
	}
}

func TestMySQLConfigRefuses(t *testing.T) {
	t.Parallel()
	if err := mysql.RegisterTLSConfig("sqlconn-test-insecure", &tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if err := mysql.RegisterTLSConfig("sqlconn-test-verify", &tls.Config{}); err != nil {
		t.Fatal(err)
	}
	s := rotasafe.DBSecret{Engine: "mysql", Host: "db.internal", Username: "app", Password: mysqlTestPassword}
	tests := []struct {
		name    string
		secret  func(*rotasafe.DBSecret)
		params  map[string]string
		wantErr string // empty: accepted
	}{
		{name: "user", params: map[string]string{"user": "root"}, wantErr: `parameter "user" is not allowed`},
		{name: "password", params: map[string]string{"password": "x"}, wantErr: `parameter "password" is not allowed`},
		{name: "passwd", params: map[string]string{"passwd": "x"}, wantErr: `parameter "passwd" is not allowed`},
		{name: "strict", params: map[string]string{"strict": "true"}, wantErr: `"strict" was removed`},
		{name: "injected name", params: map[string]string{"a=1; DROP TABLE t; SET b": "1"}, wantErr: "neither a driver parameter nor a session variable"},
		{name: "empty name", params: map[string]string{"": "1"}, wantErr: "neither a driver parameter"},
		{name: "old passwords", params: map[string]string{"allowOldPasswords": "true"}, wantErr: "allowOldPasswords is not allowed"},
		{name: "old passwords off", params: map[string]string{"allowOldPasswords": "false"}},
		{name: "cleartext without TLS", params: map[string]string{"allowCleartextPasswords": "1"}, wantErr: "needs TLS that verifies"},
		{name: "cleartext with skip-verify", params: map[string]string{"allowCleartextPasswords": "true", "tls": "skip-verify"}, wantErr: "needs TLS that verifies"},
		{name: "cleartext with preferred", params: map[string]string{"allowCleartextPasswords": "true", "tls": "preferred"}, wantErr: "needs TLS that verifies"},
		{name: "cleartext with insecure registered", params: map[string]string{"allowCleartextPasswords": "true", "tls": "sqlconn-test-insecure"}, wantErr: "needs TLS that verifies"},
		{name: "cleartext with verifying registered", params: map[string]string{"allowCleartextPasswords": "true", "tls": "sqlconn-test-verify"}},
		{name: "cleartext off", params: map[string]string{"allowCleartextPasswords": "false"}},
		{name: "bad port", params: map[string]string{"port": "http"}, wantErr: `port "http" is not a TCP port number`},
		{name: "port 0", params: map[string]string{"port": "0"}, wantErr: "not a TCP port number"},
		{name: "port too big", secret: func(s *rotasafe.DBSecret) { s.Port = 70000 }, wantErr: "not a TCP port number"},
		{name: "raw value with &", params: map[string]string{"charset": "utf8&allowOldPasswords=true"}, wantErr: `"charset" holds '&'`},
		{name: "bad bool", params: map[string]string{"parseTime": "maybe"}, wantErr: "invalid bool value"},
		{name: "bad duration", params: map[string]string{"timeout": "soon"}, wantErr: "connection parameters"},
		{name: "unknown TLS config", params: map[string]string{"tls": "nosuch"}, wantErr: "unknown config name"},
		{name: "no host", secret: func(s *rotasafe.DBSecret) { s.Host = "" }, wantErr: "has no host"},
		{name: "host from params", secret: func(s *rotasafe.DBSecret) { s.Host = "" }, params: map[string]string{"host": "db"}},
		{name: "postgres engine", secret: func(s *rotasafe.DBSecret) { s.Engine = "postgres" }, wantErr: `engine "postgres" is not MySQL or MariaDB`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := s
			if tt.secret != nil {
				tt.secret(&s)
			}
			_, err := (MySQL{}).Connector(s, tt.params)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want a connector", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), mysqlTestPassword) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestMySQLEngines(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"", "mysql", "mariadb", "aurora-mysql", "aurora", "MySQL"} {
		if _, err := (MySQL{}).Connector(rotasafe.DBSecret{Engine: engine, Host: "h", Username: "u", Password: "p"}, nil); err != nil {
			t.Errorf("engine %q: %v", engine, err)
		}
	}
	for _, engine := range []string{"postgres", "aurora-postgresql", "redis", "sqlserver"} {
		_, err := (MySQL{}).Connector(rotasafe.DBSecret{Engine: engine, Host: "h", Username: "u", Password: "p"}, nil)
		if want := fmt.Sprintf("engine %q is not MySQL or MariaDB", engine); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("engine %q: got %v, want an error containing %q", engine, err, want)
		}
	}
}
