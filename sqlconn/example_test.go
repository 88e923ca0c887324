package sqlconn_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/retry"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// A service opens its *sql.DB over a Connector: the pool keeps working while Secrets
// Manager rotates the password. (No Output: it needs AWS credentials and a database.)
func ExampleNewPostgres() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	secrets := cache.New(secretsmanager.NewFromConfig(awsCfg), cache.WithTTL(15*time.Minute))
	defer secrets.Close() // after db.Close: the Connector does not own the cache

	policy := login.DefaultPolicy()
	policy.MaxElapsed = 10 * time.Second
	db := sql.OpenDB(sqlconn.NewPostgres(secrets, "prod/orders/db",
		sqlconn.WithParams(map[string]string{"sslmode": "verify-full", "application_name": "orders"}),
		sqlconn.WithRetry(policy),
		sqlconn.WithLogger(slog.Default()),
	))
	defer db.Close()

	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil {
		var ce *rotasafe.ConnectError
		if errors.As(err, &ce) {
			log.Fatalf("cannot log in with secret %s after %d attempts: %v", ce.SecretID, ce.Total, err)
		}
		log.Fatal(err)
	}
	fmt.Println(n, "orders")
}

// Postgres classifies by SQLSTATE and error type, however deeply the driver's error is
// wrapped, never by message text.
func ExamplePostgres_Classify() {
	rejected := &pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: "password authentication failed"}
	proxy := &pgconn.PgError{Severity: "FATAL", Code: "28000", Message: "RDS Proxy: authentication failed"}
	full := &pgconn.PgError{Severity: "FATAL", Code: "53300", Message: "too many connections"}
	for _, err := range []error{
		fmt.Errorf("connect: %w", errors.Join(errors.New("host 1: refused"), rejected)),
		proxy,
		full,
		&pgconn.PgError{Code: "3D000"},
		errors.New("password authentication failed"), // text alone is not trusted
	} {
		fmt.Println(sqlconn.Postgres{}.Classify(err))
	}
	// Output:
	// auth
	// auth
	// transient
	// other
	// other
}

// WithRetry sets how long a connect keeps trying: here at most 3 s, waits from 100 ms up
// to 1 s with equal jitter.
func ExampleWithRetry() {
	p := retry.Policy{Initial: 100 * time.Millisecond, Max: time.Second, MaxElapsed: 3 * time.Second, Jitter: retry.Equal}
	var secrets *cache.Cache // from cache.New
	_ = sqlconn.NewPostgres(secrets, "prod/orders/db", sqlconn.WithRetry(p))
}
