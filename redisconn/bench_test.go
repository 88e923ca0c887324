package redisconn

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/redistest"
)

// BenchmarkGet measures what the cache-backed client adds to a command on a pooled
// connection (the hook's context value) against a client with a fixed password.
func BenchmarkGet(b *testing.B) {
	e := redistest.NewEnv(b)
	id, user, pw := e.AppSecret()
	c := cache.New(e.SM.Client())
	defer c.Close()
	clients := []struct {
		name string
		rdb  *redis.Client
	}{
		{"impl=static", redis.NewClient(&redis.Options{Addr: e.Server.Addr, Username: user, Password: pw, DisableIdentity: true})},
		{"impl=rotasafe", NewClient(c, id, &redis.Options{DisableIdentity: true})},
	}
	for _, cl := range clients {
		defer cl.rdb.Close()
		b.Run(cl.name, func(b *testing.B) {
			ctx := b.Context()
			if err := cl.rdb.Set(ctx, "app:bench", "v", 0).Err(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := cl.rdb.Get(ctx, "app:bench").Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
