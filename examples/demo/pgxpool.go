package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/pgxpoolconn"
)

// Clients the workers query through (-client).
const (
	clientSQL     = "sql"     // a *sql.DB over sqlconn
	clientPgxpool = "pgxpool" // a *pgxpool.Pool configured by pgxpoolconn
)

// workload is what the workers query through, and the login statistics of its client.
type workload struct {
	query func(ctx context.Context) error
	stats func() rotasafe.LoginStats
	close func()
}

// pgxPoolWorkload opens a pgx pool whose connections log in with the secret: one
// connection per worker, each living 200ms, so that new connections keep logging in
// through the rotations.
func (w *world) pgxPoolWorkload(ctx context.Context, cfg config, secrets *cache.Cache) (workload, error) {
	pc, err := pgxpool.ParseConfig("application_name=rotasafe-demo")
	if err != nil {
		return workload{}, err
	}
	pc.MaxConns = int32(cfg.workers)
	pc.MaxConnLifetime = 200 * time.Millisecond
	creds := pgxpoolconn.NewCredentials(secrets, w.secretID)
	if err := creds.Configure(pc); err != nil {
		return workload{}, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return workload{}, err
	}
	return workload{
		query: func(ctx context.Context) error {
			var user string
			return pool.QueryRow(ctx, "SELECT current_user").Scan(&user)
		},
		stats: creds.Stats,
		close: pool.Close,
	}, nil
}
