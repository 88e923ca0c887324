// Command app is the smallest real program that reads its PostgreSQL credentials from AWS
// Secrets Manager through rotasafe: the AWS SDK's default configuration, a cache, and a
// *sql.DB whose logins survive every rotation of the secret.
//
//	SECRET_ID=prod/app/db go run ./examples/app
//
// The secret holds AWS's documented database JSON (engine, host, port, username, password,
// dbname). Point AWS_ENDPOINT_URL_SECRETS_MANAGER at `go run ./smtest/cmd/smtest` to try it
// without AWS.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/sqlconn"
)

func main() {
	secretID := os.Getenv("SECRET_ID")
	if secretID == "" {
		log.Fatal("app: set SECRET_ID to the name or ARN of the database secret")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatalf("app: AWS configuration: %v", err)
	}
	secrets := cache.New(secretsmanager.NewFromConfig(cfg))
	defer secrets.Close()

	db := sql.OpenDB(sqlconn.NewPostgres(secrets, secretID))
	defer db.Close()

	var user string
	var now time.Time
	if err := db.QueryRowContext(ctx, "SELECT current_user, now()").Scan(&user, &now); err != nil {
		log.Fatalf("app: %v", err) // names the secret and versions tried, never a password
	}
	fmt.Printf("connected as %s at %s\n", user, now.Format(time.RFC3339))
}
