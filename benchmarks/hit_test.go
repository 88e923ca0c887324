package benchmarks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-secretsmanager-caching-go/v2/secretcache"

	"github.com/rotasafe/rotasafe/cache"
)

// hitImpls are the readers of a cached secret that BenchmarkHit compares. Each setup fills
// its cache (one real GetSecretValue or DescribeSecret+GetSecretValue through the SDK
// client against smtest) and returns a read of the cached value.
var hitImpls = []struct {
	name  string
	setup func(b *testing.B) func() (string, error)
}{
	{"rotasafe", setupRotasafe},
	{"cachinggo", setupCachingGo},
	{"sidecar", setupSidecar},
	{"syncmap", setupSyncMap},
}

const hitID = "bench/hit"

func setupRotasafe(b *testing.B) func() (string, error) {
	_, client := newSM(b, hitID)
	c := cache.New(client, cache.WithTTL(time.Hour), cache.WithLogger(nil))
	b.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if _, err := c.Get(ctx, hitID); err != nil {
		b.Fatal(err)
	}
	return func() (string, error) {
		v, err := c.Get(ctx, hitID)
		return v.SecretString, err
	}
}

func setupCachingGo(b *testing.B) func() (string, error) {
	_, client := newSM(b, hitID)
	c, err := secretcache.New(func(c *secretcache.Cache) { c.Client = client })
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.GetSecretString(hitID); err != nil {
		b.Fatal(err)
	}
	return func() (string, error) { return c.GetSecretString(hitID) }
}

// agentToken is the SSRF token a sidecar demands, as the Secrets Manager Agent does.
const agentToken = "bench-agent-token"

// setupSidecar serves the cached GetSecretValue JSON on 127.0.0.1 the way the Secrets Manager
// Agent does (GET /secretsmanager/get?secretId=..., token header), and reads it with a
// keep-alive HTTP client and a JSON decode: what an out-of-process cache costs at the least.
func setupSidecar(b *testing.B) func() (string, error) {
	_, client := newSM(b, hitID)
	out, err := client.GetSecretValue(context.Background(), getInput(hitID))
	if err != nil {
		b.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{
		"ARN": out.ARN, "Name": out.Name, "VersionId": out.VersionId,
		"SecretString": out.SecretString, "VersionStages": out.VersionStages,
		"CreatedDate": out.CreatedDate.Format(time.RFC3339Nano)})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Aws-Parameters-Secrets-Token") != agentToken {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		if r.URL.Query().Get("secretId") != hitID {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	hc := srv.Client()
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	url := srv.URL + "/secretsmanager/get?secretId=" + hitID
	return func() (string, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("X-Aws-Parameters-Secrets-Token", agentToken)
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var v struct{ SecretString string }
		err = json.NewDecoder(resp.Body).Decode(&v)
		io.Copy(io.Discard, resp.Body)
		return v.SecretString, err
	}
}

// setupSyncMap is the floor: one lock-free map load of a value already in memory.
func setupSyncMap(b *testing.B) func() (string, error) {
	type val struct{ s string }
	var m sync.Map
	m.Store(hitID, &val{secretJSON})
	return func() (string, error) {
		v, _ := m.Load(hitID)
		return v.(*val).s, nil
	}
}

// BenchmarkHit reads a cached secret: serially (b.Loop) and from every P at once
// (b.RunParallel). The goal for rotasafe is 0 allocs/op and within 2x of impl=syncmap.
func BenchmarkHit(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		b.Run("mode="+mode, func(b *testing.B) {
			for _, im := range hitImpls {
				b.Run("impl="+im.name, func(b *testing.B) {
					read := im.setup(b)
					b.ReportAllocs()
					if mode == "serial" {
						for b.Loop() {
							if _, err := read(); err != nil {
								b.Fatal(err)
							}
						}
						return
					}
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := read(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		})
	}
}

// BenchmarkRoundTrip is one GetSecretValue through the real SDK client to smtest on loopback:
// the Secrets Manager round trip the other results are compared with.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("impl=sdk", func(b *testing.B) {
		_, client := newSM(b, hitID)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := client.GetSecretValue(ctx, getInput(hitID)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
