package redisacl

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/rotate"
)

// testCerts is a self-signed certificate for 127.0.0.1, its key, and a pool that trusts it.
type testCerts struct {
	certFile, keyFile string
	pool              *x509.CertPool
}

func newTestCerts(t testing.TB) *testCerts {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rotasafe test redis"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &testCerts{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(c.certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	c.pool.AppendCertsFromPEM(certPEM)
	return c
}

// A secret with "tls": true: the strategy and the client speak TLS to a server that speaks
// nothing else, and verify its certificate.
func TestTLSFromSecret(t *testing.T) {
	t.Parallel()
	certs := newTestCerts(t)
	e := newEnvTLS(t, certs)
	id, user, pw0 := e.appSecret()

	// The system's roots do not trust the test certificate: the strategy did try TLS, and
	// verified.
	_, err := rotate.Rotate(t.Context(), e.api, id, rotate.NewHandler(e.api, Strategy(WithTimeout(2*time.Second))))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("got %v, want a certificate verification error", err)
	}

	roots := &tls.Config{RootCAs: certs.pool}
	h := rotate.NewHandler(e.api, Strategy(WithTLSConfig(roots)))
	older := []string{pw0}
	for range 2 {
		if _, err := rotate.Rotate(t.Context(), e.api, id, h); err != nil {
			t.Fatal(err)
		}
		older = append(older, e.checkClean(id, user, older))
	}

	// The client takes the address and "tls" from the secret; the roots come from opts.
	c := cache.New(e.sm.Client())
	defer c.Close()
	rdb := NewClient(c, id, &redis.Options{TLSConfig: roots, DisableIdentity: true})
	defer rdb.Close()
	if err := rdb.Set(t.Context(), "app:tls", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
}
