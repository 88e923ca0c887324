// Command rielambda is a rotation function for smtest's integration test: the rotation
// template (package template) as a Lambda function, run under the Lambda Runtime Interface
// Emulator, talking to the Secrets Manager at $SMTEST_URL. For a secret named
// "fail-<step>" (fail-testSecret, ...) it fails that step, so a test sees a Lambda function
// error.
package main

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/smtest/internal/template"
)

func main() {
	client := secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(os.Getenv("SMTEST_URL")),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSMTEST", "smtest-not-a-secret", ""),
	})
	lambda.Start(func(ctx context.Context, ev rotasafe.Event) error {
		if strings.Contains(ev.SecretID, ":secret:fail-"+ev.Step+"-") {
			return errors.New("rielambda: injected failure")
		}
		return template.Step(ctx, client, ev)
	})
}
