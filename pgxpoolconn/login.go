package pgxpoolconn

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/memo"
	"github.com/rotasafe/rotasafe/internal/pgclass"
)

// account is what one version of the secret says a connection logs in with.
type account struct {
	host     string // "" keeps the pool configuration's host, port and TLS settings
	port     uint16
	database string // "" keeps the configuration's database, or "postgres"
	// secret holds the username and password. It is a pointer so that no fmt verb prints
	// the password of an account: fmt prints an unexported pointer field as an address.
	secret *rotasafe.DBSecret
}

// parse reads the database secret JSON of v. Its errors name the version and the field,
// never a value.
func (c *Credentials) parse(v rotasafe.Version) (*account, error) {
	data := []byte(v.SecretString)
	if v.SecretString == "" && v.SecretBinary != nil {
		data = v.SecretBinary
	}
	s, err := rotasafe.ParseDBSecret(data)
	if err != nil {
		return nil, c.versionErr(v, err)
	}
	if !pgclass.Engine(s.Engine) {
		return nil, c.versionErr(v, fmt.Errorf("the secret's engine %q is not PostgreSQL", s.Engine))
	}
	port := s.PortOrDefault()
	if port < 1 || port > 65535 {
		return nil, c.versionErr(v, fmt.Errorf("the secret's port %d is out of range", port))
	}
	return &account{host: s.Host, port: uint16(port), database: s.DBName, secret: &s}, nil
}

func (c *Credentials) versionErr(v rotasafe.Version, err error) error {
	return fmt.Errorf("pgxpoolconn: secret %s version %s: %w", c.secretID, v.ID, err)
}

// loginConfig sets lc to a copy of the pool's connection configuration cc that logs in with
// l. The copy is shallow: the login only reads what it shares with cc (runtime parameters,
// fallbacks, TLS settings), and aim replaces rather than changes the TLS settings it aims.
func (c *Credentials) loginConfig(lc, cc *pgx.ConnConfig, l *account) error {
	*lc = *cc
	lc.User, lc.Password = l.secret.Username, l.secret.Password
	switch {
	case l.database != "":
		lc.Database = l.database
	case lc.Database == "":
		lc.Database = "postgres"
	}
	// pgconn's AfterConnect runs once, on the pool's connection (handover.go).
	lc.AfterConnect = nil
	if l.host != "" {
		return c.aim(lc, l.host, l.port)
	}
	return nil
}

// aim points lc, a shallow copy of the pool's configuration, at host and port, with TLS
// settings for that host, as Configure describes. It changes no TLS settings it shares.
func (c *Credentials) aim(lc *pgx.ConnConfig, host string, port uint16) error {
	var to []*pgconn.FallbackConfig
	switch {
	case isSocket(host):
		// pgx uses no TLS on unix sockets.
		to = []*pgconn.FallbackConfig{{Host: host, Port: port}}
	case isSocket(lc.Host) && lc.TLSConfig == nil && noTLS(lc.Fallbacks):
		// pgx built no TLS settings for a socket; build those the connection string asks for.
		var err error
		if to, err = tlsFor(&c.hosts, lc.ConnString(), host, port); err != nil {
			return err
		}
	default:
		to = []*pgconn.FallbackConfig{{Host: host, Port: port, TLSConfig: retarget(lc.TLSConfig, lc.Host, host)}}
		for _, f := range lc.Fallbacks {
			if f.Host == lc.Host && f.Port == lc.Port { // not another host of a multi-host string
				to = append(to, &pgconn.FallbackConfig{Host: host, Port: port, TLSConfig: retarget(f.TLSConfig, lc.Host, host)})
			}
		}
	}
	lc.Host, lc.Port, lc.TLSConfig, lc.Fallbacks = to[0].Host, to[0].Port, to[0].TLSConfig, to[1:]
	return nil
}

// retarget returns tc aimed at host instead of from: a clone whose ServerName is host where
// pgx had set it to from (sslmode=verify-full and SNI), or where it is empty although the
// certificate's name is verified; otherwise tc itself, which the caller must not change.
func retarget(tc *tls.Config, from, host string) *tls.Config {
	if tc != nil && (tc.ServerName == from || tc.ServerName == "" && !tc.InsecureSkipVerify) {
		tc = tc.Clone()
		tc.ServerName = host
	}
	return tc
}

// isSocket reports whether pgx takes host for a unix socket directory, as
// pgconn.NetworkAddress does, without building the address.
func isSocket(host string) bool {
	return strings.HasPrefix(host, "/") ||
		len(host) >= 3 && 'A' <= host[0] && host[0] <= 'Z' && host[1] == ':' && host[2] == '\\'
}

func noTLS(fs []*pgconn.FallbackConfig) bool {
	for _, f := range fs {
		if f.TLSConfig != nil {
			return false
		}
	}
	return true
}

// tlsMemo keeps the TLS settings parsed from a connection string for a host, so that each
// new connection does not read certificate files again. Set Max to maxTLSMemo.
type tlsMemo = memo.Map[tlsKey, []*pgconn.FallbackConfig]

type tlsKey struct {
	connString, host string
	port             uint16
}

// maxTLSMemo bounds a tlsMemo: a pool sees one connection string and a secret's host or two.
const maxTLSMemo = 16

// tlsFor returns the host, port and TLS settings (first, then fallbacks) that pgx parses
// from connString when host and port replace its own, kept in m. The tls.Configs are shared
// and never changed.
func tlsFor(m *tlsMemo, connString, host string, port uint16) ([]*pgconn.FallbackConfig, error) {
	return m.Get(tlsKey{connString, host, port}, func() ([]*pgconn.FallbackConfig, error) {
		pc, err := pgconn.ParseConfig(withHost(connString, host, port))
		if err != nil {
			// A ParseConfigError quotes the connection string, which Configure made sure holds
			// no password.
			return nil, fmt.Errorf("pgxpoolconn: TLS settings for host %s port %d: %w", host, port, err)
		}
		return append([]*pgconn.FallbackConfig{{Host: pc.Host, Port: pc.Port, TLSConfig: pc.TLSConfig}}, pc.Fallbacks...), nil
	})
}

// withHost returns connString with host and port replacing whatever hosts and ports it
// names: pgx takes the last of repeated keywords, and URL query parameters over the URL's
// host part.
func withHost(connString, host string, port uint16) string {
	p := strconv.Itoa(int(port))
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		sep := "&"
		switch {
		case !strings.Contains(connString, "?"):
			sep = "?"
		case strings.HasSuffix(connString, "?"), strings.HasSuffix(connString, "&"):
			sep = ""
		}
		return connString + sep + "host=" + url.QueryEscape(host) + "&port=" + p
	}
	return connString + " host=" + quoteValue(host) + " port=" + p
}

// quoteValue quotes a keyword/value connection string value.
func quoteValue(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
