package sqlconn_test

import (
	"context"
	"database/sql"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// A MySQL, MariaDB or Aurora MySQL pool whose logins survive rotations of the secret
// "prod/orders/mysql". Parameters are go-sql-driver/mysql's: TLS verifying the server, times
// parsed into time.Time, and a session variable set at each login.
func ExampleNewMySQL() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	c := cache.New(secretsmanager.NewFromConfig(awsCfg))
	defer c.Close()

	db := sql.OpenDB(sqlconn.NewMySQL(c, "prod/orders/mysql", sqlconn.WithParams(map[string]string{
		"tls":       "true",
		"parseTime": "true",
		"time_zone": "'+00:00'",
	})))
	defer db.Close()

	var now string
	if err := db.QueryRowContext(ctx, "SELECT NOW()").Scan(&now); err != nil {
		log.Fatal(err)
	}
}
