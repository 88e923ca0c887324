package pgtest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
)

// A program (the demo, say) starts a cluster, creates an application role
// and connects as it. Tests use pgtest.New(t) instead, which closes the
// cluster when the test ends.
func Example() {
	ctx := context.Background()
	c, err := pgtest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	role := pgtest.UniqueName("app")
	if err := c.CreateRole(ctx, role, "app-password"); err != nil {
		log.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.ConnString(role, "app-password", "postgres"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)

	var ok bool
	if err := conn.QueryRow(ctx, "SELECT current_user = $1", role).Scan(&ok); err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected as the new role:", ok)
}
