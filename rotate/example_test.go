package rotate_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe/rotate"
)

// Rotate a database secret in process, without a Lambda function: for a scheduled job, a
// demo or a test. The secret needs no rotation configuration; an earlier rotation that
// stopped half way is finished instead of a new one being started.
func ExampleHandler_Rotate() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	client := secretsmanager.NewFromConfig(cfg)
	h := rotate.NewHandler(client, rotate.PostgresSingleUser())
	versionID, err := h.Rotate(ctx, "prod/app/db")
	if err != nil {
		log.Fatal(err) // names the secret, the version and the step; never a password
	}
	fmt.Println("AWSCURRENT is now version", versionID)
}

// A rotation Lambda function for a PostgreSQL user that changes its own password. Password
// options go to the handler, connection options to the strategy.
func ExamplePostgresSingleUser() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	h := rotate.NewHandler(secretsmanager.NewFromConfig(cfg),
		rotate.PostgresSingleUser(rotate.WithTLSMode(rotate.TLSVerifyFull)),
		rotate.WithPasswordLength(40),
	)
	lambda.Start(h.Handle)
}

// A rotation Lambda function that alternates between app and app_clone. The secret's masterarn
// field names the secret of a user allowed to create roles and change passwords.
func ExamplePostgresAlternatingUsers() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	h := rotate.NewHandler(secretsmanager.NewFromConfig(cfg), rotate.PostgresAlternatingUsers(
		rotate.WithCloneSuffix("_b"),
	))
	lambda.Start(h.Handle)
}
