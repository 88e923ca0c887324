package rotate_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/rotatetest"
)

// The bundled database strategies, each proven by package rotatetest on a real server:
// rotations, each step twice and replayed, interruption at every Secrets Manager call and
// between steps, Create and Test without side effects (compared on the server's catalog of
// the rotated users), no value in an error or log line, concurrent rotations.

// kitCase is one bundled strategy and the scenario it claims.
type kitCase struct {
	name     string
	scenario rotate.Scenario
	strategy rotate.Strategy
}

// secretJSON is the secret of user on host:port, with masterarn naming the secret "master".
func secretJSON(t testing.TB, engine, host string, port int, user, pw, master string) string {
	t.Helper()
	b, err := rotasafe.DBSecret{Engine: engine, Host: host, Port: port, Username: user, Password: pw, MasterARN: master}.MarshalSecret()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPostgresStrategiesPassTheKit(t *testing.T) {
	t.Parallel()
	pg := pgtest.New(t)
	tls := rotate.WithTLSMode(rotate.TLSDisable)
	for _, kc := range []kitCase{
		{"single_user", rotate.ScenarioSingleUser, rotate.PostgresSingleUser(tls)},
		{"single_user_through_admin", rotate.ScenarioSingleUser, rotate.PostgresSingleUser(tls, rotate.WithAdminSecret())},
		{"alternating_users", rotate.ScenarioAlternatingUsers, rotate.PostgresAlternatingUsers(tls)},
	} {
		t.Run(kc.name, func(t *testing.T) {
			t.Parallel()
			user, pw := pgtest.UniqueName("kit"), rand.Text()
			if err := pg.CreateRole(t.Context(), user, pw); err != nil {
				t.Fatal(err)
			}
			secret := func(user, pw, master string) string {
				return secretJSON(t, "postgres", pg.Host(), pg.Port(), user, pw, master)
			}
			err := rotatetest.TestStrategy(t.Context(), kc.strategy, rotatetest.Config{
				Scenario: kc.scenario,
				Secret:   secret(user, pw, "master"),
				Secrets:  map[string]string{"master": secret(pg.SuperUser(), pg.SuperPassword(), "")},
				Login: func(ctx context.Context, value string) error {
					s, err := rotasafe.ParseDBSecret([]byte(value))
					if err != nil {
						return err
					}
					c, err := pgx.Connect(ctx, pg.ConnString(s.Username, s.Password, "postgres"))
					if err != nil {
						return err
					}
					return c.Close(ctx)
				},
				// The rotated role and its clone: password verifier, login, memberships.
				Accepted: func(ctx context.Context) ([]string, error) {
					return pgStrings(ctx, pg, `SELECT r.rolname || ':' || coalesce(r.rolpassword, '') || ':' || r.rolcanlogin::text || ':' ||
						coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m JOIN pg_authid g ON g.oid = m.roleid WHERE m.member = r.oid), '')
						FROM pg_authid r WHERE r.rolname IN ($1, $2)`, user, user+"_clone")
				},
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// pgStrings runs a query of one text column as the superuser.
func pgStrings(ctx context.Context, pg *pgtest.Cluster, query string, args ...any) ([]string, error) {
	c, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func TestMySQLStrategiesPassTheKit(t *testing.T) {
	t.Parallel()
	my := mysqltest.New(t)
	tls := rotate.WithTLSMode(rotate.TLSDisable)
	for _, kc := range []kitCase{
		{"single_user", rotate.ScenarioSingleUser, rotate.MySQLSingleUser(tls)},
		{"single_user_through_admin", rotate.ScenarioSingleUser, rotate.MySQLSingleUser(tls, rotate.WithAdminSecret())},
		{"alternating_users", rotate.ScenarioAlternatingUsers, rotate.MySQLAlternatingUsers(tls)},
		{"dual_password", rotate.ScenarioMultiCredential, rotate.MySQLDualPassword(tls)},
	} {
		t.Run(kc.name, func(t *testing.T) {
			t.Parallel()
			user, pw := mysqltest.UniqueName("kit"), rand.Text()
			if err := my.CreateUser(t.Context(), user, pw); err != nil {
				t.Fatal(err)
			}
			secret := func(user, pw, master string) string {
				return secretJSON(t, "mariadb", my.Host(), my.Port(), user, pw, master)
			}
			admin := openMySQL(t, my, my.AdminUser(), my.AdminPassword())
			defer admin.Close()
			err := rotatetest.TestStrategy(t.Context(), kc.strategy, rotatetest.Config{
				Scenario: kc.scenario,
				Secret:   secret(user, pw, "master"),
				Secrets:  map[string]string{"master": secret(my.AdminUser(), my.AdminPassword(), "")},
				Login: func(ctx context.Context, value string) error {
					s, err := rotasafe.ParseDBSecret([]byte(value))
					if err != nil {
						return err
					}
					db := openMySQL(t, my, s.Username, s.Password)
					defer db.Close()
					return db.PingContext(ctx)
				},
				// The rotated account and its clone: authentication, TLS requirement and
				// privileges (global_priv), and their grants.
				Accepted: func(ctx context.Context) ([]string, error) {
					rows, err := admin.QueryContext(ctx, "SELECT CONCAT(User, '@', Host, ':', JSON_REMOVE(Priv, '$.password_last_changed')) FROM mysql.global_priv WHERE User IN (?, ?) ORDER BY 1", user, user+"_clone")
					if err != nil {
						return nil, err
					}
					defer rows.Close()
					var out []string
					for rows.Next() {
						var s string
						if err := rows.Scan(&s); err != nil {
							return nil, err
						}
						out = append(out, s)
					}
					return out, rows.Err()
				},
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// openMySQL returns a handle that logs in as user on my.
func openMySQL(t testing.TB, my *mysqltest.Server, user, pw string) *sql.DB {
	connector, err := mysql.NewConnector(my.Config(user, pw, ""))
	if err != nil {
		t.Fatal(err)
	}
	return sql.OpenDB(connector)
}
