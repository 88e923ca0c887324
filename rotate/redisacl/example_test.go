package redisacl_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/redisacl"
)

// A rotation Lambda function for a Redis ACL user. The secret holds host, port, username,
// password and masterarn, the ARN of the secret of a user allowed to run ACL SETUSER.
func ExampleStrategy() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	h := rotate.NewHandler(secretsmanager.NewFromConfig(cfg), redisacl.Strategy(redisacl.WithACLSave()))
	lambda.Start(h.Handle)
}

// What ACL SETUSER receives, and ACL GETUSER shows, instead of the password.
func ExamplePasswordHash() {
	fmt.Println(redisacl.PasswordHash("foobar"))
	// Output: #c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2
}
