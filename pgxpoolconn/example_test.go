package pgxpoolconn_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/pgxpoolconn"
)

// A service that uses a pgx pool (directly, or through code sqlc generated in its pgx
// mode) configures it with its secret: the pool keeps working while Secrets Manager rotates
// the password. (No Output: it needs AWS credentials and a database.)
func ExampleConfigure() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	secrets := cache.New(secretsmanager.NewFromConfig(awsCfg), cache.WithTTL(15*time.Minute))
	defer secrets.Close() // after pool.Close: the pool does not own the cache

	// Everything but host, port, database, user and password is the application's.
	cfg, err := pgxpool.ParseConfig("sslmode=verify-full sslrootcert=/etc/ssl/rds-global-bundle.pem pool_max_conns=20 application_name=orders")
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConnLifetime = 30 * time.Minute
	if err := pgxpoolconn.Configure(cfg, secrets, "prod/orders/db"); err != nil {
		log.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil {
		if ce, ok := errors.AsType[*rotasafe.ConnectError](err); ok {
			log.Fatalf("cannot log in with secret %s after %d logins: %v", ce.SecretID, ce.Total, err)
		}
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
			log.Fatalf("query failed with SQLSTATE %s: %v", pgErr.Code, err)
		}
		log.Fatal(err)
	}
	fmt.Println(n, "orders")
}

// New is the short way, with pgx's defaults and the PG* environment variables
// (PGSSLMODE, PGSSLROOTCERT, PGAPPNAME, ...).
func ExampleNew() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	secrets := cache.New(secretsmanager.NewFromConfig(awsCfg))
	defer secrets.Close()
	pool, err := pgxpoolconn.New(ctx, secrets, "prod/orders/db")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		log.Fatal(err)
	}
}

// A Credentials reports what the pool's logins cost, for metrics.
func ExampleCredentials_Stats() {
	var secrets *cache.Cache // from cache.New
	creds := pgxpoolconn.NewCredentials(secrets, "prod/orders/db")
	cfg, err := pgxpool.ParseConfig("sslmode=verify-full")
	if err != nil {
		log.Fatal(err)
	}
	if err := creds.Configure(cfg); err != nil {
		log.Fatal(err)
	}
	// ... pgxpool.NewWithConfig(ctx, cfg), then now and then:
	st := creds.Stats()
	fmt.Printf("logins %d, rejected %d, rescued by AWSPENDING %d, given up %d\n",
		st.Logins, st.Rejected.Total(), st.Fallbacks.Pending, st.Failures)
}
