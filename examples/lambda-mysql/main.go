// Command lambda-mysql is an AWS Secrets Manager rotation function for MySQL and MariaDB
// database secrets, built on package rotate: deploy it with template.yaml (see README.md), or
// run it under the Lambda Runtime Interface Emulator.
//
// It is configured by environment variables:
//
//	ROTATION_STRATEGY                 SINGLE_USER (default), SINGLE_USER_THROUGH_ADMIN,
//	                                  ALTERNATING_USERS or DUAL_PASSWORD
//	PASSWORD_LENGTH                   length of new passwords (default 32)
//	EXCLUDE_CHARACTERS                characters new passwords leave out (default :/@"'\)
//	USE_GET_RANDOM_PASSWORD           true: passwords from Secrets Manager's GetRandomPassword
//	CLONE_SUFFIX                      suffix of the second user for ALTERNATING_USERS (default _clone)
//	TLS_MODE                          "" (verified TLS, else plain, as AWS's templates), secret,
//	                                  disable, prefer, require, verify-ca or verify-full
//	SECRETS_MANAGER_ENDPOINT          endpoint URL of Secrets Manager (e.g. a VPC endpoint or a test server);
//	                                  the SDK's AWS_ENDPOINT_URL_SECRETS_MANAGER works too
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		logger.Error("load AWS configuration", "error", err.Error())
		os.Exit(1)
	}
	client := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if ep := os.Getenv("SECRETS_MANAGER_ENDPOINT"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	})
	h, err := handlerFromEnv(client, os.LookupEnv, logger)
	if err != nil {
		logger.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
