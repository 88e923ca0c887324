package main

import (
	"context"
	"testing"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/lambdatest"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
)

// TestLambdaUnderRIE builds the function, runs it under the Lambda Runtime Interface Emulator
// pointed at smtest, has smtest's RotateSecret invoke it for each strategy, and logs in to a
// real MariaDB with the new AWSCURRENT (and AWSPREVIOUS, for the strategies that keep it).
// Neither the function's output nor the server's general log may hold a password.
func TestLambdaUnderRIE(t *testing.T) {
	my := mysqltest.New(t)
	secret := func(user, pw string) rotasafe.DBSecret {
		return rotasafe.DBSecret{Engine: "mariadb", Host: my.Host(), Port: my.Port(), Username: user, Password: pw}
	}
	passwords := lambdatest.Run(t, lambdatest.Function{
		Dir:        ".",
		Strategies: []string{"SINGLE_USER", "ALTERNATING_USERS", "DUAL_PASSWORD", "SINGLE_USER_THROUGH_ADMIN"},
		Admin:      secret(my.AdminUser(), my.AdminPassword()),
		NewUser: func(t *testing.T) rotasafe.DBSecret {
			user, pw := mysqltest.UniqueName("app"), lambdatest.Password()
			if err := my.CreateUser(t.Context(), user, pw); err != nil {
				t.Fatal(err)
			}
			return secret(user, pw)
		},
		Login: func(ctx context.Context, s rotasafe.DBSecret) error {
			return my.Login(ctx, s.Username, s.Password, "")
		},
		KeepsPrevious: func(strategy string) bool { return strategy == "DUAL_PASSWORD" || strategy == "ALTERNATING_USERS" },
		Drop:          []string{"MYSQL"},
	})
	my.CheckLogs(t, passwords...)
}
