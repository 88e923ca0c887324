package pgxpoolconn_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// slowConn returns from each Write a while after the bytes went out, as a busy machine
// does: pgconn then reads the server's answer in the background.
type slowConn struct{ net.Conn }

func (c slowConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	time.Sleep(20 * time.Millisecond)
	return n, err
}

// TestSlowWrites: when pgconn still reads in the background after the login (its writes
// were slow), the pool's connection gets the server's answers all the same.
func TestSlowWrites(t *testing.T) {
	e := newEnv(t, nil)
	cfg, _ := e.poolConfig(t, "sslmode=disable pool_max_conns=2")
	checkSlowWrites(t, e, cfg)
}

// checkSlowWrites opens new connections of a pool over cfg, with slow writes, and queries
// each.
func checkSlowWrites(t *testing.T, e *env, cfg *pgxpool.Config) {
	t.Helper()
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return slowConn{c}, nil
	}
	pool := newPool(t, cfg)
	for i := range 10 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		c, err := pool.Acquire(ctx)
		if err != nil {
			cancel()
			t.Fatalf("Acquire %d: %v", i, err)
		}
		var user string
		err = c.QueryRow(ctx, "SELECT current_user").Scan(&user)
		c.Release()
		cancel()
		if err != nil || user != e.User {
			t.Fatalf("query %d on a new connection: %q, %v; want %q", i, user, err, e.User)
		}
		pool.Reset() // the next Acquire logs in anew
	}
}
