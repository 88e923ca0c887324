package reliability

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/internal/testserver/redistest"
	"github.com/rotasafe/rotasafe/redisconn"
	"github.com/rotasafe/rotasafe/retry"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/redisacl"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// database is a row of the tables over engines: how to start a server of one engine for a
// test, the strategies that rotate its users, and the client an application logs in
// through.
type database struct {
	name      string
	scenarios []scenario
	start     func(t *testing.T, logs *testserver.Buffer) server
}

// server is a running database of a row.
type server interface {
	engine
	// app is an application's client for secret id, read through c: ping logs in and runs
	// a query; stats are the client's.
	app(t testing.TB, c *cache.Cache, id string, opts clientOptions) (ping func(context.Context) error, stats func() any)
	// stop and start take the server down and up again; nil when the server cannot stop.
	outage() (stop, start func(context.Context) error)
	// serverLogs returns what the server itself recorded (logs, ACLs), by name, to search for
	// secrets.
	serverLogs(t testing.TB) map[string]string
	// passwordChanges names the server log that records the statements that change
	// passwords, and statements every strategy's rotations leave in it together; a leak
	// search of a log without them would prove nothing.
	passwordChanges() (log string, statements []string)
	// hashed returns the forms of a password the server may hold (and log), and where they
	// may appear; nil when it logs none.
	hashed(password string) (hash, allowedIn string)
	// url is a connection URL for user, the shape a secret must not take.
	url(user, password string) string
}

// clientOptions are the options an app's client takes in every engine, with one meaning.
type clientOptions struct {
	logger *slog.Logger
	policy retry.Policy
}

func (o clientOptions) sql() []sqlconn.Option {
	return []sqlconn.Option{sqlconn.WithLogger(o.logger), sqlconn.WithRetry(o.policy)}
}

// eachSQLDatabase runs f as a parallel subtest for PostgreSQL and MariaDB, each on a server of
// its own: the faults that need a database that stops, restarts or refuses logins.
func eachSQLDatabase(t *testing.T, f func(t *testing.T, d database, srv server)) {
	for _, d := range databases {
		if _, ok := sqlEngines[d.name]; !ok {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			f(t, d, d.start(t, nil))
		})
	}
}

// eachScenario runs f as a subtest of t for each of d's scenarios, named after it, with an env
// of its own on srv and a new secret (ARN id) whose rotation logs in with the master secret.
func eachScenario(t *testing.T, d database, srv server, f func(t *testing.T, sc scenario, e *env, id string)) {
	for _, sc := range d.scenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := newEngineEnv(t, srv)
			id, _ := e.newDBSecret(e.master())
			f(t, sc, e, id)
		})
	}
}

var sqlEngines = map[string]bool{"postgres": true, "mysql": true}

// sessionKiller is a server whose client sessions a test can kill from the server side.
type sessionKiller interface {
	// sessionKiller returns a function that kills every client session but its own and
	// returns how many it killed.
	sessionKiller(t *testing.T) func() int
}

// lambdaFunction is a server with a rotation function under examples/.
type lambdaFunction interface {
	// lambda names the function's directory under examples/ and the prefix of the
	// environment variables it must not inherit.
	lambda() (dir, dropEnv string)
}

// logChecker is a server that searches its own logs for secrets.
type logChecker interface {
	CheckLogs(tb testing.TB, secrets ...string)
}

// refuser is a server that can refuse users' logins the way a server at its connection limit
// does: a transient refusal, not a rejection of the credentials.
type refuser interface {
	// refuse starts (on) or ends the refusal for those of users that exist.
	refuse(ctx context.Context, on bool, users ...string) error
}

var databases = []database{
	{"postgres", scenarios, func(t *testing.T, _ *testserver.Buffer) server {
		return pgEngine{pgtest.New(t, pgtest.WithLogStatements())}
	}},
	{"mysql", myScenarios, func(t *testing.T, _ *testserver.Buffer) server { return myEngine{mysqltest.New(t)} }},
	{"redis", redisScenarios, func(t *testing.T, logs *testserver.Buffer) server {
		opts := []redistest.Option{}
		if logs != nil {
			opts = append(opts, redistest.WithLog(logs))
		}
		return redisEngine{redistest.New(t, opts...), t}
	}},
}

// pgEngine is a PostgreSQL cluster; applications log in through sqlconn.NewPostgres.
type pgEngine struct{ *pgtest.Cluster }

func (p pgEngine) admin() (string, string) { return p.SuperUser(), p.SuperPassword() }

func (p pgEngine) createUser(ctx context.Context, user, pw string) error {
	return p.CreateRole(ctx, user, pw)
}

func (p pgEngine) secret(user, pw, masterARN string) rotasafe.DBSecret {
	return rotasafe.DBSecret{Engine: "postgres", Host: p.Host(), Port: p.Port(), Username: user, Password: pw, DBName: "postgres", MasterARN: masterARN}
}

func (p pgEngine) login(ctx context.Context, s rotasafe.DBSecret) error {
	conn, err := pgx.Connect(ctx, p.ConnString(s.Username, s.Password, s.DBNameOrDefault()))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "SELECT 1")
	return err
}

var sslOff = sqlconn.WithParams(map[string]string{"sslmode": "disable"})

func (p pgEngine) app(t testing.TB, c *cache.Cache, id string, o clientOptions) (func(context.Context) error, func() any) {
	conn := sqlconn.NewPostgres(c, id, append(o.sql(), sslOff)...)
	return sqlApp(t, conn)
}

func (p pgEngine) refuse(ctx context.Context, on bool, users ...string) error {
	limit := -1
	if on {
		limit = 0
	}
	for _, u := range users {
		q := fmt.Sprintf(`DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = %s) THEN ALTER ROLE %s CONNECTION LIMIT %d; END IF; END $$`,
			quoteLiteral(u), pgx.Identifier{u}.Sanitize(), limit)
		if err := p.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// quoteLiteral quotes s as a PostgreSQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (p pgEngine) sessionKiller(t *testing.T) func() int {
	killer, err := pgx.Connect(t.Context(), p.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killer.Close(context.Background()) })
	return func() int {
		var killed int
		if err := killer.QueryRow(t.Context(), "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend') k").Scan(&killed); err != nil {
			t.Fatal(err)
		}
		return killed
	}
}

func (p pgEngine) lambda() (string, string) { return "lambda-postgres", "PG" }

func (p pgEngine) outage() (stop, start func(context.Context) error) { return p.Stop, p.Start }

func (p pgEngine) serverLogs(t testing.TB) map[string]string {
	t.Helper()
	log, err := p.ReadLog()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"server log": log}
}

func (p pgEngine) passwordChanges() (string, []string) { return "server log", []string{"ALTER ROLE"} }

func (p pgEngine) hashed(string) (string, string) { return "", "" }

func (p pgEngine) url(user, pw string) string {
	return "postgres://" + user + ":" + pw + "@localhost/postgres"
}

var myScenarios = []scenario{
	{"mysql_single_user", "SINGLE_USER", rotate.MySQLSingleUser, false, 20},
	{"mysql_alternating_users", "ALTERNATING_USERS", rotate.MySQLAlternatingUsers, true, 10},
	{"mysql_dual_password", "DUAL_PASSWORD", rotate.MySQLDualPassword, true, 10},
}

// myEngine is a MariaDB server; applications log in through sqlconn.NewMySQL.
type myEngine struct{ *mysqltest.Server }

func (m myEngine) admin() (string, string) { return m.AdminUser(), m.AdminPassword() }

func (m myEngine) createUser(ctx context.Context, user, pw string) error {
	return m.CreateUser(ctx, user, pw)
}

func (m myEngine) secret(user, pw, masterARN string) rotasafe.DBSecret {
	return rotasafe.DBSecret{Engine: "mariadb", Host: m.Host(), Port: m.Port(), Username: user, Password: pw, MasterARN: masterARN}
}

func (m myEngine) login(ctx context.Context, s rotasafe.DBSecret) error {
	return m.Login(ctx, s.Username, s.Password, s.DBName)
}

func (m myEngine) app(t testing.TB, c *cache.Cache, id string, o clientOptions) (func(context.Context) error, func() any) {
	return sqlApp(t, sqlconn.NewMySQL(c, id, o.sql()...))
}

func (m myEngine) refuse(ctx context.Context, on bool, users ...string) error {
	limit := 0 // no limit
	if on {
		limit = -1 // MariaDB: no connection at all, error 1226
	}
	for _, u := range users {
		if err := m.Exec(ctx, fmt.Sprintf("ALTER USER IF EXISTS %s WITH MAX_USER_CONNECTIONS %d", mysqltest.QuoteAccount(u, "%"), limit)); err != nil {
			return err
		}
	}
	return nil
}

func (m myEngine) sessionKiller(t *testing.T) func() int {
	killer := myAdminConn(t, m.Server)
	return func() int { return killOthers(t, killer) }
}

func (m myEngine) lambda() (string, string) { return "lambda-mysql", "MYSQL" }

// myAdminConn returns one admin session on my, closed when the test ends.
func myAdminConn(t *testing.T, my *mysqltest.Server) *sql.Conn {
	t.Helper()
	connector, err := mysql.NewConnector(my.Config(my.AdminUser(), my.AdminPassword(), ""))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	c, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// killOthers kills every client session but killer's own and returns how many it killed.
func killOthers(t *testing.T, killer *sql.Conn) int {
	t.Helper()
	ctx := t.Context()
	rows, err := killer.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND NOT IN ('Daemon', 'Binlog Dump') AND USER NOT IN ('system user', 'event_scheduler')")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	killed := 0
	for _, id := range ids {
		// An ID whose session ended in between is error 1094 (unknown thread): not a kill.
		if _, err := killer.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatInt(id, 10)); err == nil {
			killed++
		}
	}
	return killed
}

func (m myEngine) outage() (stop, start func(context.Context) error) { return m.Stop, m.Start }

func (m myEngine) serverLogs(t testing.TB) map[string]string {
	t.Helper()
	general, err := m.ReadGeneralLog()
	if err != nil {
		t.Fatal(err)
	}
	errorLog, err := m.ReadErrorLog()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"general log": general, "error log": errorLog}
}

func (m myEngine) passwordChanges() (string, []string) {
	return "general log", []string{"SET PASSWORD = '*", "ALTER USER"}
}

// hashed: the mysql_native_password hash reaches the server, so the general log holds it.
func (m myEngine) hashed(pw string) (string, string) {
	return mysqltest.NativePasswordHash(pw), "general log"
}

func (m myEngine) url(user, pw string) string { return "mysql://" + user + ":" + pw + "@localhost/" }

// sqlApp opens a *sql.DB on conn, closed when the test ends.
func sqlApp(t testing.TB, conn *sqlconn.Connector) (func(context.Context) error, func() any) {
	db := openDB(t, sql.OpenDB(conn))
	return db.PingContext, func() any { return conn.Stats() }
}

// redisScenarios is the one Redis strategy (rotate/redisacl: two passwords on one ACL user).
var redisScenarios = []scenario{
	{"redis_acl", "", func(...rotate.DBOption) rotate.Strategy { return redisacl.Strategy() }, true, 10},
}

// redisEngine is a redis-server; applications log in through redisconn.NewClient.
type redisEngine struct {
	*redistest.Server
	tb testing.TB
}

func (r redisEngine) admin() (string, string) { return r.AdminUser, r.AdminPassword }

func (r redisEngine) createUser(_ context.Context, user, pw string) error {
	r.CreateUser(r.tb, user, pw)
	return nil
}

func (r redisEngine) secret(user, pw, masterARN string) rotasafe.DBSecret {
	return rotasafe.DBSecret{Engine: "redis", Host: r.Host, Port: r.Port, Username: user, Password: pw, MasterARN: masterARN}
}

func (r redisEngine) login(ctx context.Context, s rotasafe.DBSecret) error {
	c := redis.NewClient(&redis.Options{Addr: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), Username: s.Username, Password: s.Password, MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	return c.Ping(ctx).Err()
}

func (r redisEngine) app(t testing.TB, c *cache.Cache, id string, o clientOptions) (func(context.Context) error, func() any) {
	rdb := redisconn.NewClient(c, id, &redis.Options{MaxRetries: -1}, redisconn.WithLogger(o.logger), redisconn.WithRetry(o.policy))
	t.Cleanup(func() { rdb.Close() })
	return func(ctx context.Context) error { return rdb.Ping(ctx).Err() }, func() any { return rdb.Options().Addr }
}

func (r redisEngine) outage() (stop, start func(context.Context) error) { return nil, nil }

func (r redisEngine) serverLogs(t testing.TB) map[string]string {
	t.Helper()
	admin := r.Admin(t)
	users, err := admin.Do(t.Context(), "ACL", "USERS").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	cmds := [][]any{{"ACL", "LIST"}, {"ACL", "LOG"}}
	for _, u := range users {
		cmds = append(cmds, []any{"ACL", "GETUSER", u})
	}
	var acl strings.Builder
	for _, cmd := range cmds {
		v, err := admin.Do(t.Context(), cmd...).Result()
		if err != nil {
			t.Fatal(err)
		}
		acl.WriteString(formats(v))
	}
	return map[string]string{"ACL LIST, LOG and GETUSER": acl.String()}
}

func (r redisEngine) passwordChanges() (string, []string) { return "", nil }

func (r redisEngine) hashed(string) (string, string) { return "", "" }

func (r redisEngine) url(user, pw string) string { return "redis://" + user + ":" + pw + "@localhost/" }
