//lint:file-ignore SA1019 rotate.Rotate, deprecated for Handler.Rotate, stays callable; these callers drive one Handler through the API of their test server.

package redisacl

import (
	"testing"
	"time"

	"github.com/rotasafe/rotasafe/internal/testserver/redistest"
	"github.com/rotasafe/rotasafe/rotate"
)

// A secret with "tls": true: the strategy speaks TLS to a server that speaks nothing else,
// and verifies its certificate.
func TestTLSFromSecret(t *testing.T) {
	t.Parallel()
	e, roots := redistest.NewTLSEnv(t)
	id, user, pw0 := e.AppSecret()

	// The system's roots do not trust the test certificate: the strategy did try TLS, and
	// verified. The timeout only guards against a hang: a slow handshake must not turn the
	// certificate error into a timeout.
	_, err := rotate.Rotate(t.Context(), e.API, id, rotate.NewHandler(e.API, Strategy(WithTimeout(time.Minute))))
	redistest.CheckUntrusted(t, err)

	h := rotate.NewHandler(e.API, Strategy(WithTLSConfig(roots), WithTimeout(time.Minute)))
	older := []string{pw0}
	for range 2 {
		if _, err := rotate.Rotate(t.Context(), e.API, id, h); err != nil {
			t.Fatal(err)
		}
		older = append(older, e.CheckClean(id, user, older))
	}
}
