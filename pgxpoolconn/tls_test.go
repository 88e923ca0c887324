package pgxpoolconn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/pgxpoolconn"
)

// TestTLS runs against a cluster with ssl=on and a certificate for 127.0.0.1 from a test
// CA: a connection string that names no host (pgx then builds no TLS settings, for its
// default socket directory) gets verify-full for the secret's host, SCRAM channel binding
// works through the handover, cancel requests go over TLS, and a wrong CA fails the login.
func TestTLS(t *testing.T) {
	dir, caFile, otherCA := writeCerts(t)
	pg := pgtest.New(t, pgtest.WithSetting("ssl", "on"),
		pgtest.WithSetting("ssl_cert_file", filepath.Join(dir, "server.crt")),
		pgtest.WithSetting("ssl_key_file", filepath.Join(dir, "server.key")))
	e := newEnv(t, pg)

	cfg, creds := e.poolConfig(t, "sslmode=verify-full channel_binding=require sslrootcert="+caFile)
	cfg.ConnConfig.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: 10 * time.Second}
	}
	// Record how every connection the pool dials begins: a cancel request must not go out
	// in the clear.
	var firsts firstWrites
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return firsts.watch(c), nil
	}
	pool := newPool(t, cfg)
	ctx := t.Context()
	check := func(when string) {
		t.Helper()
		var user string
		var ssl bool
		err := pool.QueryRow(ctx, "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&user, &ssl)
		if err != nil || user != e.User || !ssl {
			t.Fatalf("%s: user %q, ssl %v, %v; want %q over TLS", when, user, ssl, err, e.User)
		}
	}
	check("first connection")

	qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err := pool.Exec(qctx, "SELECT pg_sleep(30)")
	cancel()
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != "57014" {
		t.Errorf("cancelled query: got %v, want query_canceled (57014) from a cancel request over TLS", err)
	}
	if codes := firsts.codes(); len(codes) < 2 || slices.ContainsFunc(codes, func(c uint32) bool { return c != sslRequestCode }) {
		t.Errorf("the pool's dials began with request codes %v, want the SSLRequest (%d) on a login and a cancel connection at least", codes, sslRequestCode)
	}

	if err := e.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
	check("after a rotation")
	if st := creds.Stats(); st.Rejected.Total() == 0 {
		t.Errorf("no login met the rotated password: %+v", st)
	}

	slow, _ := e.poolConfig(t, "sslmode=verify-full channel_binding=require sslrootcert="+caFile)
	checkSlowWrites(t, e, slow)

	wrong, err := pgxpool.ParseConfig("sslmode=verify-full sslrootcert=" + otherCA)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgxpoolconn.Configure(wrong, e.NewCache(t), e.SecretID); err != nil {
		t.Fatal(err)
	}
	wrongPool := newPool(t, wrong)
	_, err = wrongPool.Acquire(ctx)
	if _, ok := errors.AsType[*rotasafe.ConnectError](err); !ok || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("with another CA: got %v, want a ConnectError about the certificate", err)
	}
}

const sslRequestCode = 80877103

// firstWrites records the request code of the first message written on each connection.
type firstWrites struct {
	mu   sync.Mutex // guards list
	list []uint32
}

func (f *firstWrites) watch(c net.Conn) net.Conn { return &firstWriteConn{Conn: c, f: f} }

func (f *firstWrites) codes() []uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list)
}

type firstWriteConn struct {
	net.Conn
	f    *firstWrites
	seen bool // only the writing goroutine touches it
}

func (c *firstWriteConn) Write(p []byte) (int, error) {
	if !c.seen && len(p) >= 8 {
		c.seen = true
		c.f.mu.Lock()
		c.f.list = append(c.f.list, binary.BigEndian.Uint32(p[4:8]))
		c.f.mu.Unlock()
	}
	return c.Conn.Write(p)
}

// writeCerts writes a CA, a server certificate for 127.0.0.1 and localhost signed by it,
// the server's key, and a second, unrelated CA. The server's files belong to the postgres
// user when the test runs as root, as PostgreSQL requires of its key.
func writeCerts(t *testing.T) (dir, caFile, otherCAFile string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgxpoolconn-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	newCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		key := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	ca, caKey, caPEM := newCA("pgxpoolconn test CA")
	_, _, otherPEM := newCA("unrelated CA")
	key := newKey()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"ca.crt", caPEM, 0o644},
		{"other-ca.crt", otherPEM, 0o644},
		{"server.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644},
		{"server.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600},
	}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		if u, err := user.Lookup("postgres"); err == nil {
			uid, _ = strconv.Atoi(u.Uid)
			gid, _ = strconv.Atoi(u.Gid)
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir, filepath.Join(dir, "ca.crt"), filepath.Join(dir, "other-ca.crt")
}
