package rotate_test

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe/rotate"
)

// A rotation Lambda function for a MariaDB (10.4+) or MySQL (8.0.14+) user that keeps two
// passwords, so that the AWSCURRENT password still logs in until the next rotation and no
// application login ever fails. The secret's masterarn field names the secret of a user with
// CREATE USER; only password hashes reach the server.
func ExampleMySQLDualPassword() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	h := rotate.NewHandler(secretsmanager.NewFromConfig(cfg),
		rotate.MySQLDualPassword(rotate.WithTLSMode(rotate.TLSVerifyFull)))
	lambda.Start(h.Handle)
}

// A rotation Lambda function that alternates between app and app_clone on MySQL or MariaDB.
// The clone is made at app's host with app's grants; the masterarn user needs CREATE USER,
// SELECT on mysql.* and app's privileges WITH GRANT OPTION.
func ExampleMySQLAlternatingUsers() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	h := rotate.NewHandler(secretsmanager.NewFromConfig(cfg), rotate.MySQLAlternatingUsers())
	lambda.Start(h.Handle)
}
