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
//
// The settings and the start of the Lambda runtime are those of every example function
// (examples/internal/lambdaenv); this command names its strategies.
package main

import (
	"github.com/rotasafe/rotasafe/examples/internal/lambdaenv"
	"github.com/rotasafe/rotasafe/rotate"
)

// strategies are the values of ROTATION_STRATEGY (besides SINGLE_USER_THROUGH_ADMIN, and
// MULTI_USER for ALTERNATING_USERS, which lambdaenv adds).
var strategies = map[string]lambdaenv.Strategy{
	"SINGLE_USER":       rotate.MySQLSingleUser,
	"ALTERNATING_USERS": rotate.MySQLAlternatingUsers,
	"DUAL_PASSWORD":     rotate.MySQLDualPassword,
}

func main() { lambdaenv.Main(strategies) }
