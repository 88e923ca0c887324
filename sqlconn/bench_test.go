package sqlconn_test

import (
	"context"
	"database/sql/driver"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/secretenv"
)

// BenchmarkConnect opens and closes one connection per iteration, through sqlconn and
// through pgx's stdlib connector with the same credentials, so that
//
//	go test -run '^$' -bench Connect -count 6 ./sqlconn | benchstat -col /impl -
//
// shows what sqlconn adds to a login. The role's verifier uses PostgreSQL's default 4096
// SCRAM iterations, as a real server's would.
func BenchmarkConnect(b *testing.B) {
	e := &env{secretenv.NewPostgres(b, nil, 4096)}
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(e.PG.ConnString(e.User, e.Current(), "postgres"))
	if err != nil {
		b.Fatal(err)
	}
	impls := []struct {
		name string
		conn driver.Connector
	}{
		{"impl=sqlconn", e.connector(b)},
		{"impl=pgx-stdlib", stdlib.GetConnector(*cfg)},
	}
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := impl.conn.Connect(ctx)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// BenchmarkRotationToConnect measures the time from the end of a rotation (AWSCURRENT
// moved, the database holding the new password, the cache still holding the old version)
// to the first successful connect: a rejected login, one refresh, a login with the new
// version. The cache's forced-refresh floor is removed so that every iteration refreshes;
// rotations are not timed.
func BenchmarkRotationToConnect(b *testing.B) {
	e := newEnv(b, nil)
	e.CacheOptions = []cache.Option{cache.WithMinRefreshInterval(0)}
	c := e.connector(b)
	ctx := context.Background()
	mustConnect(b, c)
	e.SM.ResetCalls()
	var total time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if err := e.Rotate(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		conn, err := c.Connect(ctx)
		total += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		conn.Close()
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/rotation-to-connect")
	b.ReportMetric(float64(e.SM.Calls("GetSecretValue"))/float64(b.N), "GetSecretValue/op")
}
