//lint:file-ignore SA1019 rotate.Rotate, deprecated for Handler.Rotate, stays callable; these callers drive one Handler through the API of their test server.

package redisconn

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/redistest"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/redisacl"
)

// A secret with "tls": true: the client takes the address and "tls" from the secret, speaks
// TLS to a server that speaks nothing else and verifies its certificate (the roots come from
// opts), before and after a rotation.
func TestTLSFromSecret(t *testing.T) {
	t.Parallel()
	e, roots := redistest.NewTLSEnv(t)
	id, _, _ := e.AppSecret()
	c := cache.New(e.SM.Client())
	defer c.Close()

	// The system's roots do not trust the test certificate: the client did try TLS, and
	// verified.
	untrusting := NewClient(c, id, &redis.Options{DisableIdentity: true, MaxRetries: -1})
	defer untrusting.Close()
	redistest.CheckUntrusted(t, untrusting.Ping(t.Context()).Err())

	rdb := NewClient(c, id, &redis.Options{TLSConfig: roots, DisableIdentity: true})
	defer rdb.Close()
	if err := rdb.Set(t.Context(), "app:tls", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rotate.Rotate(t.Context(), e.API, id, rotate.NewHandler(e.API, redisacl.Strategy(redisacl.WithTLSConfig(roots)))); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(t.Context(), "app:tls", "2", 0).Err(); err != nil {
		t.Fatal(err)
	}
}
