package mysqltest_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"

	"github.com/go-sql-driver/mysql"

	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
)

// A program (the demo, say) starts a server, creates an application user and logs in as it.
// Tests use mysqltest.New(t) instead, which closes the server when the test ends.
func Example() {
	ctx := context.Background()
	s, err := mysqltest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	user := mysqltest.UniqueName("app")
	if err := s.CreateUser(ctx, user, "app-password"); err != nil {
		log.Fatal(err)
	}
	conn, err := mysql.NewConnector(s.Config(user, "app-password", ""))
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()

	var current string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&current); err != nil {
		log.Fatal(err)
	}
	fmt.Println("logged in as the new user:", current == user+"@%")
}
