package rotate_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe/rotate"
)

// Rotate a database secret in process, without a Lambda function: for a scheduled job, a
// demo or a test. The secret needs no rotation configuration; an earlier rotation that
// stopped half way is finished instead of a new one being started.
func ExampleRotate() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	client := secretsmanager.NewFromConfig(cfg)
	h := rotate.NewHandler(client, rotate.PostgresSingleUser())
	versionID, err := rotate.Rotate(ctx, client, "prod/app/db", h)
	if err != nil {
		log.Fatal(err) // names the secret, the version and the step; never a password
	}
	fmt.Println("AWSCURRENT is now version", versionID)
}

// A rotation Lambda function for a PostgreSQL user that changes its own password.
func ExamplePostgresSingleUser() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	h := rotate.NewHandler(secretsmanager.NewFromConfig(cfg), rotate.PostgresSingleUser(
		rotate.WithPasswordLength(40),
		rotate.WithTLSMode(rotate.TLSVerifyFull),
	))
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

// SCRAMVerifier gives what PostgreSQL stores for a password, so ALTER ROLE never carries the
// password itself.
func ExampleSCRAMVerifier() {
	v, err := rotate.SCRAMVerifier("correct horse battery staple")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(v, "SCRAM-SHA-256$4096:"), strings.Contains(v, "horse"))
	// Output: true false
}
