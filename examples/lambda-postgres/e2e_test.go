package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/lambdatest"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
)

// TestLambdaUnderRIE builds the function, runs it under the Lambda Runtime Interface Emulator
// pointed at smtest, has smtest's RotateSecret invoke it for each strategy, and logs in to a
// real PostgreSQL with the new AWSCURRENT.
func TestLambdaUnderRIE(t *testing.T) {
	pg := pgtest.New(t)
	secret := func(user, pw string) rotasafe.DBSecret {
		return rotasafe.DBSecret{Engine: "postgres", Host: pg.Host(), Port: pg.Port(), Username: user, Password: pw, DBName: "postgres"}
	}
	lambdatest.Run(t, lambdatest.Function{
		Dir:        ".",
		Strategies: []string{"SINGLE_USER", "ALTERNATING_USERS", "SINGLE_USER_THROUGH_ADMIN"},
		Admin:      secret(pg.SuperUser(), pg.SuperPassword()),
		NewUser: func(t *testing.T) rotasafe.DBSecret {
			user, pw := pgtest.UniqueName("app"), lambdatest.Password()
			if err := pg.CreateRole(t.Context(), user, pw); err != nil {
				t.Fatal(err)
			}
			return secret(user, pw)
		},
		Login: func(ctx context.Context, s rotasafe.DBSecret) error {
			conn, err := pgx.Connect(ctx, pg.ConnString(s.Username, s.Password, "postgres"))
			if err == nil {
				conn.Close(context.Background())
			}
			return err
		},
		Drop: []string{"PG"},
	})
}
