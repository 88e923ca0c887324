package pgxpoolconn

import (
	"crypto/tls"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestAim: the login goes to the secret's host with the TLS settings the application's
// configuration asks for, aimed at that host.
func TestAim(t *testing.T) {
	t.Parallel()
	type entry struct {
		tls        bool
		serverName string
	}
	tests := []struct {
		name       string
		connString string
		own        *tls.Config // set on the parsed configuration, as an application may
		host       string
		want       []entry
	}{
		{"no host, verify-full: parsed for the secret's host", "sslmode=verify-full", nil, "db.example", []entry{{true, "db.example"}}},
		{"no host, prefer: TLS, then plain", "sslmode=prefer", nil, "db.example", []entry{{true, "db.example"}, {false, ""}}},
		{"no host, disable", "sslmode=disable", nil, "db.example", []entry{{false, ""}}},
		{"URL without host", "postgres:///app?sslmode=verify-full", nil, "db.example", []entry{{true, "db.example"}}},
		{"URL without host or query", "postgres:///app", nil, "db.example", []entry{{true, "db.example"}, {false, ""}}},
		{"host, verify-full: retargeted", "host=app.example sslmode=verify-full", nil, "db.example", []entry{{true, "db.example"}}},
		{"host, prefer", "host=app.example sslmode=prefer", nil, "db.example", []entry{{true, "db.example"}, {false, ""}}},
		{"IP host, verify-full", "host=10.0.0.1 sslmode=verify-full", nil, "db.example", []entry{{true, "db.example"}}},
		{"several hosts: the first one's settings", "host=a.example,b.example sslmode=prefer", nil, "db.example", []entry{{true, "db.example"}, {false, ""}}},
		{"own TLS config without a name", "sslmode=disable", &tls.Config{}, "db.example", []entry{{true, "db.example"}}},
		{"own TLS config with a name: kept", "host=app.example sslmode=disable", &tls.Config{ServerName: "proxy.example"}, "db.example", []entry{{true, "proxy.example"}}},
		{"secret's host is a socket: no TLS", "host=app.example sslmode=verify-full", nil, "/run/postgresql", []entry{{false, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cc, err := pgx.ParseConfig(tt.connString)
			if err != nil {
				t.Fatal(err)
			}
			if tt.own != nil {
				cc.TLSConfig, cc.Fallbacks = tt.own, nil
			}
			var c Credentials
			before := cc.Copy()
			lc := *cc // shallow, as loginConfig copies
			if err := c.aim(&lc, tt.host, 6543); err != nil {
				t.Fatal(err)
			}
			got := append([]*pgconn.FallbackConfig{{Host: lc.Host, Port: lc.Port, TLSConfig: lc.TLSConfig}}, lc.Fallbacks...)
			if len(got) != len(tt.want) {
				t.Fatalf("%d hosts to try, want %d", len(got), len(tt.want))
			}
			for i, f := range got {
				if f.Host != tt.host || f.Port != 6543 {
					t.Errorf("entry %d: %s:%d, want %s:6543", i, f.Host, f.Port, tt.host)
				}
				e := entry{f.TLSConfig != nil, ""}
				if f.TLSConfig != nil {
					e.serverName = f.TLSConfig.ServerName
				}
				if e != tt.want[i] {
					t.Errorf("entry %d: TLS %+v, want %+v", i, e, tt.want[i])
				}
			}
			// The application's configuration is untouched.
			if cc.Host != before.Host || len(cc.Fallbacks) != len(before.Fallbacks) || serverName(cc.TLSConfig) != serverName(before.TLSConfig) {
				t.Errorf("the application's configuration was changed")
			}
			for i, f := range cc.Fallbacks {
				if serverName(f.TLSConfig) != serverName(before.Fallbacks[i].TLSConfig) {
					t.Errorf("the TLS settings of the application's fallback %d were changed", i)
				}
			}
		})
	}
}

func serverName(tc *tls.Config) string {
	if tc == nil {
		return "(no TLS)"
	}
	return tc.ServerName
}

// TestIsSocket: isSocket agrees with pgx on which hosts are unix socket directories.
func TestIsSocket(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"/run/postgresql", "/", "db.example", "10.0.0.1", "::1", `C:\pg`, `c:\pg`, "C:", "", "C:/pg"} {
		network, _ := pgconn.NetworkAddress(host, 5432)
		if got, want := isSocket(host), network == "unix"; got != want {
			t.Errorf("isSocket(%q) = %v, pgx says %v", host, got, want)
		}
	}
}

func TestWithHost(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", " host='db' port=5432"},
		{"sslmode=require", "sslmode=require host='db' port=5432"},
		{"postgres://u@h/app", "postgres://u@h/app?host=db&port=5432"},
		{"postgres://u@h/app?sslmode=require", "postgres://u@h/app?sslmode=require&host=db&port=5432"},
		{"postgresql:///app?", "postgresql:///app?host=db&port=5432"},
	}
	for _, tt := range tests {
		if got := withHost(tt.in, "db", 5432); got != tt.want {
			t.Errorf("withHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got, want := quoteValue(`we'ird\host`), `'we\'ird\\host'`; got != want {
		t.Errorf("quoteValue = %s, want %s", got, want)
	}
	// pgx reads back what withHost wrote.
	cfg, err := pgconn.ParseConfig(withHost("sslmode=disable", `/tmp/a b'c`, 5433))
	if err != nil || cfg.Host != `/tmp/a b'c` || cfg.Port != 5433 {
		t.Errorf("parsed %q:%d, %v; want the quoted host back", cfg.Host, cfg.Port, err)
	}
}
