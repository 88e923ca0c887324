// Command lambda-rabbitmq is an AWS Secrets Manager rotation function for RabbitMQ user
// secrets, a service AWS ships no rotation template for, built on packages rotate and
// rotate/rabbitmq: it alternates between the user and its clone through the broker's
// management API, as the administrator the secret's masterarn names, sending password
// hashes only. Deploy it with template.yaml (see README.md), or run it under the Lambda
// Runtime Interface Emulator.
//
// It is configured by environment variables:
//
//	PASSWORD_LENGTH           length of new passwords (default 32)
//	EXCLUDE_CHARACTERS        characters new passwords leave out (default :/@"'\)
//	USE_GET_RANDOM_PASSWORD   true: passwords from Secrets Manager's GetRandomPassword
//	CLONE_SUFFIX              suffix of the second user (default _clone)
//	SECRETS_MANAGER_ENDPOINT  endpoint URL of Secrets Manager (e.g. a VPC endpoint or a test server);
//	                          the SDK's AWS_ENDPOINT_URL_SECRETS_MANAGER works too
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/rabbitmq"
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

// handlerFromEnv builds the rotation handler from the environment (lookup is os.LookupEnv).
// The options panic on a value they refuse; here the value is input, so that panic comes
// back as an error naming the option and the value.
func handlerFromEnv(api rotasafe.API, lookup func(string) (string, bool), logger *slog.Logger) (h *rotate.Handler, err error) {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	opts := []rotate.Option{rotate.WithLogger(logger)}
	var rmqOpts []rabbitmq.Option
	if v := get("PASSWORD_LENGTH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("PASSWORD_LENGTH %q is not a number", v)
		}
		opts = append(opts, rotate.WithPasswordLength(n))
	}
	if v, ok := lookup("EXCLUDE_CHARACTERS"); ok {
		opts = append(opts, rotate.WithExcludeCharacters(v))
	}
	switch v := strings.ToLower(get("USE_GET_RANDOM_PASSWORD")); v {
	case "", "false", "0", "no":
	case "true", "1", "yes":
		opts = append(opts, rotate.WithRandomPasswordAPI())
	default:
		return nil, fmt.Errorf("USE_GET_RANDOM_PASSWORD %q is not true or false", v)
	}
	if v := get("CLONE_SUFFIX"); v != "" {
		rmqOpts = append(rmqOpts, rabbitmq.WithCloneSuffix(v))
	}
	defer func() {
		if r := recover(); r != nil {
			h, err = nil, fmt.Errorf("configuration: %v", r)
		}
	}()
	return rotate.NewHandler(api, rabbitmq.Strategy(rmqOpts...), opts...), nil
}
