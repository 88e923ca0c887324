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
	"log/slog"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/examples/internal/lambdaenv"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/rabbitmq"
)

// The settings and the start of the Lambda runtime are those of every example function
// (examples/internal/lambdaenv); this command builds its one strategy, whose options are
// rabbitmq's.
func main() { lambdaenv.Run(handlerFromEnv) }

// handlerFromEnv builds the rotation handler from the environment (lookup is os.LookupEnv).
func handlerFromEnv(api rotasafe.API, lookup func(string) (string, bool), logger *slog.Logger) (*rotate.Handler, error) {
	opts, err := lambdaenv.HandlerOptions(lookup, logger)
	if err != nil {
		return nil, err
	}
	var rmqOpts []rabbitmq.Option
	if v := lambdaenv.Get(lookup, "CLONE_SUFFIX"); v != "" {
		rmqOpts = append(rmqOpts, rabbitmq.WithCloneSuffix(v))
	}
	return lambdaenv.Recover(func() *rotate.Handler { return rotate.NewHandler(api, rabbitmq.Strategy(rmqOpts...), opts...) })
}
