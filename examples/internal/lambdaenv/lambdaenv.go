// Package lambdaenv is what the rotation functions under examples/ share: the settings they
// read from the environment and the main that loads the AWS configuration and starts the
// Lambda runtime. A function is its strategies by name:
//
//	func main() {
//		lambdaenv.Main(map[string]lambdaenv.Strategy{
//			"SINGLE_USER":       rotate.PostgresSingleUser,
//			"ALTERNATING_USERS": rotate.PostgresAlternatingUsers,
//		})
//	}
//
// The settings (see Handler): ROTATION_STRATEGY (default SINGLE_USER; SINGLE_USER_THROUGH_ADMIN
// is SINGLE_USER with rotate.WithAdminSecret; MULTI_USER is ALTERNATING_USERS),
// PASSWORD_LENGTH, EXCLUDE_CHARACTERS, USE_GET_RANDOM_PASSWORD, CLONE_SUFFIX, TLS_MODE and
// SECRETS_MANAGER_ENDPOINT.
package lambdaenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/rotate"
)

// Strategy makes a rotation strategy with the connection options the environment sets.
type Strategy func(opts ...rotate.DBOption) rotate.Strategy

// Main loads the AWS configuration (with SECRETS_MANAGER_ENDPOINT as the Secrets Manager
// endpoint when set), builds the handler from the environment and strategies, and runs it
// as the Lambda function. It logs JSON to standard error and exits on a bad configuration.
func Main(strategies map[string]Strategy) {
	Run(func(api rotasafe.API, lookup func(string) (string, bool), logger *slog.Logger) (*rotate.Handler, error) {
		return Handler(api, lookup, logger, strategies)
	})
}

// Builder builds a function's rotation handler from the environment (lookup is
// os.LookupEnv), for Run: Handler for the database functions, or a function's own for a
// strategy that takes other options than rotate.DBOption.
type Builder func(api rotasafe.API, lookup func(string) (string, bool), logger *slog.Logger) (*rotate.Handler, error)

// Run is Main for a function that builds its handler itself.
func Run(build Builder) {
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
	h, err := build(client, os.LookupEnv, logger)
	if err != nil {
		logger.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// Handler builds the rotation handler from the environment (lookup is os.LookupEnv): the
// password options go to the handler, the connection options to the strategy named by
// ROTATION_STRATEGY. The constructors panic on a value they refuse, as on a programming
// error; here the value is input, so that panic comes back as an error naming the option and
// the value.
func Handler(api rotasafe.API, lookup func(string) (string, bool), logger *slog.Logger, strategies map[string]Strategy) (*rotate.Handler, error) {
	opts, err := HandlerOptions(lookup, logger)
	if err != nil {
		return nil, err
	}
	var dbOpts []rotate.DBOption
	if v := Get(lookup, "CLONE_SUFFIX"); v != "" {
		dbOpts = append(dbOpts, rotate.WithCloneSuffix(v))
	}
	if v := Get(lookup, "TLS_MODE"); v != "" {
		dbOpts = append(dbOpts, rotate.WithTLSMode(rotate.TLSMode(strings.ToLower(v))))
	}
	name := strings.ToUpper(Get(lookup, "ROTATION_STRATEGY"))
	switch name {
	case "":
		name = "SINGLE_USER"
	case "MULTI_USER":
		name = "ALTERNATING_USERS"
	case "SINGLE_USER_THROUGH_ADMIN":
		if _, ok := strategies["SINGLE_USER"]; ok {
			name, dbOpts = "SINGLE_USER", append(dbOpts, rotate.WithAdminSecret())
		}
	}
	newStrategy, ok := strategies[name]
	if !ok {
		return nil, fmt.Errorf("ROTATION_STRATEGY %q is not one of %s", name, strings.Join(Names(strategies), ", "))
	}
	return Recover(func() *rotate.Handler { return rotate.NewHandler(api, newStrategy(dbOpts...), opts...) })
}

// Get returns the value of the environment variable k, trimmed; "" when it is not set.
func Get(lookup func(string) (string, bool), k string) string {
	v, _ := lookup(k)
	return strings.TrimSpace(v)
}

// HandlerOptions returns the handler options every function takes from the environment:
// logger, PASSWORD_LENGTH, EXCLUDE_CHARACTERS and USE_GET_RANDOM_PASSWORD. An error names
// the variable and its value.
func HandlerOptions(lookup func(string) (string, bool), logger *slog.Logger) ([]rotate.Option, error) {
	opts := []rotate.Option{rotate.WithLogger(logger)}
	if v := Get(lookup, "PASSWORD_LENGTH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("PASSWORD_LENGTH %q is not a number", v)
		}
		opts = append(opts, rotate.WithPasswordLength(n))
	}
	if v, ok := lookup("EXCLUDE_CHARACTERS"); ok {
		opts = append(opts, rotate.WithExcludeCharacters(v))
	}
	switch v := strings.ToLower(Get(lookup, "USE_GET_RANDOM_PASSWORD")); v {
	case "", "false", "0", "no":
	case "true", "1", "yes":
		opts = append(opts, rotate.WithRandomPasswordAPI())
	default:
		return nil, fmt.Errorf("USE_GET_RANDOM_PASSWORD %q is not true or false", v)
	}
	return opts, nil
}

// Recover returns what newHandler returns. The option constructors panic on a value they
// refuse, as on a programming error; here the value is input, so Recover turns that panic
// into an error naming the option and the value.
func Recover(newHandler func() *rotate.Handler) (h *rotate.Handler, err error) {
	defer func() {
		if r := recover(); r != nil {
			h, err = nil, fmt.Errorf("configuration: %v", r)
		}
	}()
	return newHandler(), nil
}

// Names returns the ROTATION_STRATEGY values strategies offer, sorted, with
// SINGLE_USER_THROUGH_ADMIN where SINGLE_USER is.
func Names(strategies map[string]Strategy) []string {
	var names []string
	for n := range strategies {
		names = append(names, n)
	}
	if _, ok := strategies["SINGLE_USER"]; ok {
		names = append(names, "SINGLE_USER_THROUGH_ADMIN")
	}
	slices.Sort(names)
	return names
}
