package cache_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/smtest"
)

const benchSecrets = 64

// benchReaders returns one read function per implementation, each over the same warmed set
// of secrets: the cache under test, and a bare sync.Map of secret ID to Version as the floor.
func benchReaders(b *testing.B) (names []string, reads map[string]func(i int) rotasafe.Version) {
	b.Helper()
	srv := smtest.New(b)
	client := srv.Client()
	c := cache.New(client)
	b.Cleanup(func() { c.Close() })
	var floor sync.Map
	ids := make([]string, benchSecrets)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench/%02d", i)
		v := fmt.Sprintf("pw-%d", i)
		if _, err := client.CreateSecret(b.Context(), createInput(ids[i], v)); err != nil {
			b.Fatal(err)
		}
		got, err := c.Get(b.Context(), ids[i])
		if err != nil {
			b.Fatal(err)
		}
		floor.Store(ids[i], got)
	}
	ctx := b.Context()
	reads = map[string]func(int) rotasafe.Version{
		"rotasafe": func(i int) rotasafe.Version {
			v, err := c.Get(ctx, ids[i%benchSecrets])
			if err != nil {
				panic(err)
			}
			return v
		},
		"syncmap": func(i int) rotasafe.Version {
			v, ok := floor.Load(ids[i%benchSecrets])
			if !ok {
				panic("missing")
			}
			return v.(rotasafe.Version)
		},
	}
	return []string{"rotasafe", "syncmap"}, reads
}

var sinkID atomic.Value

// BenchmarkGet measures a cache hit on one goroutine against a bare sync.Map load.
func BenchmarkGet(b *testing.B) {
	names, reads := benchReaders(b)
	for _, name := range names {
		read := reads[name]
		b.Run("impl="+name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			var last string
			for b.Loop() {
				last = read(i).ID
				i++
			}
			sinkID.Store(last)
		})
	}
}

// BenchmarkGetParallel measures hits from every P at once, spread over the secrets
// (keys=64) or all on one secret (keys=1, the usual service with one database).
func BenchmarkGetParallel(b *testing.B) {
	names, reads := benchReaders(b)
	for _, keys := range []int{1, benchSecrets} {
		for _, name := range names {
			read := reads[name]
			b.Run(fmt.Sprintf("keys=%d/impl=%s", keys, name), func(b *testing.B) {
				b.ReportAllocs()
				var seed atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					i := int(seed.Add(7))
					var last string
					for pb.Next() {
						last = read(i % keys).ID
						i++
					}
					sinkID.Store(last)
				})
			})
		}
	}
}

// BenchmarkGetParsed measures GetParsed on a cached, already parsed version.
func BenchmarkGetParsed(b *testing.B) {
	srv := smtest.New(b)
	client := srv.Client()
	c := cache.New(client)
	defer c.Close()
	if _, err := client.CreateSecret(b.Context(), createInput("app/db", dbJSON("pw-1"))); err != nil {
		b.Fatal(err)
	}
	parse := func(v rotasafe.Version) (rotasafe.DBSecret, error) {
		return rotasafe.ParseDBSecret([]byte(v.SecretString))
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := cache.GetParsed(ctx, c, "app/db", parse); err != nil {
			b.Fatal(err)
		}
	}
}
