package sqlconn_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
	"github.com/rotasafe/rotasafe/internal/testserver/secretenv"
	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/retry"
	"github.com/rotasafe/rotasafe/smtest"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// The tests of this file prefix their own helpers with my; the Classify cases every Engine
// shares are classify_test.go's.

func TestMySQLClassify(t *testing.T) {
	t.Parallel()
	my := func(n uint16) error { return &mysql.MySQLError{Number: n, Message: "msg"} }
	tests := []classCase{
		{"1045 access denied", my(1045), rotasafe.ClassAuth},
		{"1045 nested in join and chain", wrapped(my(1045)), rotasafe.ClassAuth},
		{"1698 no-password plugin", my(1698), rotasafe.ClassAuth},
		{"1040 too many connections", my(1040), rotasafe.ClassTransient},
		{"1203 user connections", wrapped(my(1203)), rotasafe.ClassTransient},
		{"1226 user limit", my(1226), rotasafe.ClassTransient},
		{"1129 host blocked", my(1129), rotasafe.ClassTransient},
		{"1053 server shutdown", my(1053), rotasafe.ClassTransient},
		{"1927 connection killed", my(1927), rotasafe.ClassTransient},
		{"3032 offline mode", my(3032), rotasafe.ClassTransient},
		{"1044 no grant on the database", my(1044), rotasafe.ClassOther},
		{"4151 locked (MariaDB)", my(4151), rotasafe.ClassOther},
		{"3118 locked (MySQL)", my(3118), rotasafe.ClassOther},
		{"1820 expired password", my(1820), rotasafe.ClassOther},
		{"1862 expired password at login", my(1862), rotasafe.ClassOther},
		{"1130 host not allowed", my(1130), rotasafe.ClassOther},
		{"1049 unknown database", my(1049), rotasafe.ClassOther},
		{"auth text under another number", &mysql.MySQLError{Number: 1105, Message: "Access denied for user 'app'"}, rotasafe.ClassOther},
		{"auth text without a number", errors.New("Error 1045 (28000): Access denied for user 'app'@'h'"), rotasafe.ClassOther},
		{"driver.ErrBadConn", wrapped(driver.ErrBadConn), rotasafe.ClassTransient},
		{"mysql.ErrInvalidConn", fmt.Errorf("handshake: %w", mysql.ErrInvalidConn), rotasafe.ClassTransient},
		{"mysql.ErrNoTLS", mysql.ErrNoTLS, rotasafe.ClassOther},
	}
	testClassify(t, sqlconn.MySQL{}, tests)
}

// myErrNumber returns the server's error number in err, or 0.
func myErrNumber(err error) uint16 {
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		return me.Number
	}
	return 0
}

// myLogin logs in once through the MySQL Engine's connector for s (no Connector around it)
// and returns the error, closing the connection if there is none.
func myLogin(ctx context.Context, s rotasafe.DBSecret, params map[string]string) error {
	dc, err := (sqlconn.MySQL{}).Connector(s, params)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := dc.Connect(ctx)
	if err == nil {
		conn.Close()
	}
	return err
}

// mySecret is the secret of user on server s.
func mySecret(s *mysqltest.Server, user, password, db string) rotasafe.DBSecret {
	return rotasafe.DBSecret{Engine: "mariadb", Host: s.Host(), Port: s.Port(), Username: user, Password: password, DBName: db}
}

// myRow is one row of the classification table checked against the real server: the login
// must fail with error number (0: no server error) and Classify must give class.
type myRow struct {
	name   string
	number uint16
	class  rotasafe.Class
	msg    string // the error must contain it
}

func checkRow(t *testing.T, row myRow, err error, passwords ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("login succeeded, want it to fail")
	}
	if n := myErrNumber(err); n != row.number {
		t.Errorf("got error number %d (%v), want %d", n, err, row.number)
	}
	if c := (sqlconn.MySQL{}).Classify(err); c != row.class {
		t.Errorf("Classify(%v) = %v, want %v", err, c, row.class)
	}
	if !strings.Contains(err.Error(), row.msg) {
		t.Errorf("error %q does not say %q", err, row.msg)
	}
	printed := fmt.Sprintf("%v|%+v|%#v|%q", err, err, err, err)
	for _, pw := range passwords {
		if pw != "" && strings.Contains(printed, pw) {
			t.Errorf("error for %s holds a password", row.name)
		}
	}
}

// TestMySQLErrorsMariaDB checks each row of the classification table against a real MariaDB:
// the error number the server sends in that situation and the class Classify gives it.
func TestMySQLErrorsMariaDB(t *testing.T) {
	t.Parallel()
	s := mysqltest.New(t)
	ctx := t.Context()
	user, pw := myUser(t, s, "app")
	mustMyLogin(t, mySecret(s, user, pw, ""))
	var all []string // every password of the test, none of which may be logged
	newUser := func(t *testing.T, prefix string, extra ...string) (string, string) {
		t.Helper()
		u, p := myUser(t, s, prefix)
		for _, e := range extra {
			if err := s.Exec(ctx, strings.ReplaceAll(e, "$ACCT", mysqltest.QuoteAccount(u, "%"))); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, p)
		return u, p
	}
	all = append(all, pw)

	t.Run("1045 wrong password", func(t *testing.T) {
		err := myLogin(ctx, mySecret(s, user, pw+"x", ""), nil)
		checkRow(t, myRow{"wrong password", 1045, rotasafe.ClassAuth, "Access denied"}, err, pw, pw+"x")
	})
	t.Run("1045 empty password", func(t *testing.T) {
		err := myLogin(ctx, mySecret(s, user, "", ""), nil)
		checkRow(t, myRow{"empty password", 1045, rotasafe.ClassAuth, "using password: NO"}, err, pw)
	})
	t.Run("1045 unknown user", func(t *testing.T) {
		err := myLogin(ctx, mySecret(s, mysqltest.UniqueName("nobody"), pw, ""), nil)
		// MariaDB answers an unknown user as if it had an account with some plugin, so as not
		// to tell that it does not exist: now and then that is 1698, not 1045. Both are auth.
		number := uint16(1045)
		if myErrNumber(err) == 1698 {
			number = 1698
		}
		checkRow(t, myRow{"unknown user", number, rotasafe.ClassAuth, "Access denied"}, err, pw)
	})
	t.Run("1698 unix_socket account over TCP", func(t *testing.T) {
		u := mysqltest.UniqueName("sock")
		if err := s.Exec(ctx, "CREATE USER "+mysqltest.QuoteAccount(u, "%")+" IDENTIFIED VIA unix_socket"); err != nil {
			t.Skipf("no unix_socket plugin: %v", err)
		}
		err := myLogin(ctx, mySecret(s, u, pw, ""), nil)
		checkRow(t, myRow{"unix_socket", 1698, rotasafe.ClassAuth, "does not log in with a password"}, err, pw)
	})
	t.Run("1044 no grant on the database", func(t *testing.T) {
		db := mysqltest.UniqueName("db")
		if err := s.CreateDatabase(ctx, db, ""); err != nil {
			t.Fatal(err)
		}
		err := myLogin(ctx, mySecret(s, user, pw, db), nil)
		checkRow(t, myRow{"no grant", 1044, rotasafe.ClassOther, fmt.Sprintf("user %q has no privilege on database %q", user, db)}, err, pw)
	})
	t.Run("4151 locked account", func(t *testing.T) {
		u, p := newUser(t, "locked", "ALTER USER $ACCT ACCOUNT LOCK")
		err := myLogin(ctx, mySecret(s, u, p, ""), nil)
		checkRow(t, myRow{"locked", 4151, rotasafe.ClassOther, "is locked"}, err, p)
	})
	t.Run("1820 expired password", func(t *testing.T) {
		u, p := newUser(t, "expired", "ALTER USER $ACCT PASSWORD EXPIRE")
		// The server lets the login through and fails the first statement: what go-sql-driver
		// alone hands to the pool.
		plain, err := mysql.NewConnector(s.Config(u, p, ""))
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(plain)
		defer db.Close()
		if err := db.PingContext(ctx); err != nil {
			t.Fatalf("plain go-sql-driver login with an expired password: %v, want it to pass", err)
		}
		if _, err := db.ExecContext(ctx, "DO 1"); myErrNumber(err) != 1820 {
			t.Fatalf("first statement with an expired password: got %v, want error 1820", err)
		}
		// The MySQL Engine checks at login.
		err = myLogin(ctx, mySecret(s, u, p, ""), nil)
		checkRow(t, myRow{"expired", 1820, rotasafe.ClassOther, "has expired"}, err, p)
		// Unless told not to.
		unchecked, err := (sqlconn.MySQL{SkipExpiredPasswordCheck: true}).Connector(mySecret(s, u, p, ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := unchecked.Connect(ctx)
		if err != nil {
			t.Fatalf("login with SkipExpiredPasswordCheck: %v, want it to pass", err)
		}
		conn.Close()
	})
	t.Run("1820 after the password expires under a pool", func(t *testing.T) {
		// The setting is off (MariaDB's default): the first login reads it, later ones run
		// nothing and the first statement in sandbox mode says why, as database/sql sees it.
		u, p := newUser(t, "expiring")
		dc, err := (sqlconn.MySQL{}).Connector(mySecret(s, u, p, ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(dc)
		defer db.Close()
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
		if err := s.Exec(ctx, "ALTER USER "+mysqltest.QuoteAccount(u, "%")+" PASSWORD EXPIRE"); err != nil {
			t.Fatal(err)
		}
		// The idle connection logged in before the expiry and still works.
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("statement on a connection that logged in before the expiry: %v", err)
		}
		// Later logins pass, in sandbox mode; the first statement, prepared statement or
		// ping on each says why and asks database/sql for another connection.
		checks := map[string]func(driver.Conn) error{
			"query": func(c driver.Conn) error {
				_, err := c.(driver.QueryerContext).QueryContext(ctx, "SELECT 1", nil)
				return err
			},
			"prepare": func(c driver.Conn) error {
				_, err := c.(driver.ConnPrepareContext).PrepareContext(ctx, "SELECT ?")
				return err
			},
			"ping": func(c driver.Conn) error { return c.(driver.Pinger).Ping(ctx) },
		}
		sandboxed := map[string]driver.Conn{}
		for name := range checks { // all before the first statement, which marks the connector
			c, err := dc.Connect(ctx)
			if err != nil {
				t.Fatalf("login after the expiry: %v, want it to pass into sandbox mode", err)
			}
			defer c.Close()
			sandboxed[name] = c
		}
		for name, run := range checks {
			err := run(sandboxed[name])
			if !errors.Is(err, driver.ErrBadConn) {
				t.Errorf("first %s in sandbox mode: got %v, want it to match driver.ErrBadConn", name, err)
			}
			checkRow(t, myRow{"sandboxed " + name, 1820, rotasafe.ClassOther, "has expired"}, err, p)
		}
		// New connections, by statement, prepared statement and ping, fail with the reason.
		db.SetMaxIdleConns(0)
		for name, run := range map[string]func() error{
			"query":   func() error { return db.QueryRowContext(ctx, "SELECT 1").Scan(&one) },
			"prepare": func() error { return db.QueryRowContext(ctx, "SELECT ?", 1).Scan(&one) },
			"ping":    func() error { return db.PingContext(ctx) },
		} {
			checkRow(t, myRow{"expired " + name, 1820, rotasafe.ClassOther, "has expired"}, run(), p)
		}
	})
	t.Run("refused connection", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		sec := mySecret(s, user, pw, "")
		sec.Port = port
		err = myLogin(ctx, sec, nil)
		checkRow(t, myRow{"refused", 0, rotasafe.ClassTransient, "connection refused"}, err, pw)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("got %v, want ECONNREFUSED", err)
		}
	})
	t.Run("connection closed during the handshake", func(t *testing.T) {
		addr := myFakeServer(t, func(c net.Conn) { c.Close() })
		err := myLogin(ctx, myAt(mySecret(s, user, pw, ""), addr), nil)
		checkRow(t, myRow{"closed", 0, rotasafe.ClassTransient, ""}, err, pw)
	})
	t.Run("silent server, attempt deadline", func(t *testing.T) {
		addr := myFakeServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		err := myLogin(dctx, myAt(mySecret(s, user, pw, ""), addr), nil)
		checkRow(t, myRow{"deadline", 0, rotasafe.ClassTransient, ""}, err, pw)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("silent server, readTimeout", func(t *testing.T) {
		addr := myFakeServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
		err := myLogin(ctx, myAt(mySecret(s, user, pw, ""), addr), map[string]string{"readTimeout": "200ms"})
		checkRow(t, myRow{"read timeout", 0, rotasafe.ClassTransient, ""}, err, pw)
	})
	s.CheckLogs(t, all...)
}

// TestMySQLLimitsMariaDB checks the connection limit rows (1040, 1203, 1226, 1129) against a
// real MariaDB, and that a Connector waits out a full server.
func TestMySQLLimitsMariaDB(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	hold := func(t *testing.T, sec rotasafe.DBSecret, n int) []driver.Conn {
		t.Helper()
		dc, err := (sqlconn.MySQL{}).Connector(sec, nil)
		if err != nil {
			t.Fatal(err)
		}
		var conns []driver.Conn
		for range n {
			c, err := dc.Connect(ctx)
			if err != nil {
				t.Fatalf("holding connection %d of %d: %v", len(conns)+1, n, err)
			}
			conns = append(conns, c)
		}
		t.Cleanup(func() {
			for _, c := range conns {
				c.Close()
			}
		})
		return conns
	}

	t.Run("1040 too many connections", func(t *testing.T) {
		t.Parallel()
		s := mysqltest.New(t, mysqltest.WithMaxConnections(10))
		if s.External() {
			t.Skip("external server (ROTASAFE_MYSQL_URL): settings not applied")
		}
		user, pw := myUser(t, s, "full")
		// Hold connections until the server refuses one (MariaDB lets an account with SUPER in
		// beyond the limit, and its minimum is 10).
		sec := mySecret(s, user, pw, "")
		dc, err := (sqlconn.MySQL{}).Connector(sec, nil)
		if err != nil {
			t.Fatal(err)
		}
		var held []driver.Conn
		t.Cleanup(func() {
			for _, c := range held {
				c.Close()
			}
		})
		// fill holds connections until the server refuses one, and returns that refusal.
		fill := func() error {
			for len(held) < 50 {
				c, err := dc.Connect(ctx)
				if err != nil {
					return err
				}
				held = append(held, c)
			}
			return errors.New("the server took 50 connections with max_connections 10")
		}
		err = fill()
		t.Logf("max_connections 10: refused after %d connections", len(held))
		checkRow(t, myRow{"full", 1040, rotasafe.ClassTransient, "Too many connections"}, err, pw)

		// A Connector retries a full server until a connection is free. The server frees the
		// slot of a connection closed before the fill (the admin session that created the
		// user) when that session's thread ends, which may come after the refusal above: a
		// Connect that gets in without a retry found such a slot, so the test keeps it, fills
		// again and starts over with a new Connector.
		type result struct {
			conn driver.Conn
			err  error
		}
		e := newMyEnvOn(t, s, user, pw)
		var c *sqlconn.Connector
		var done chan result
		for attempt := 1; c == nil || c.Stats().Retries == 0; attempt++ {
			c = e.connector(t, sqlconn.WithRetry(myPolicy(30*time.Second)))
			done = make(chan result, 1)
			go func(c *sqlconn.Connector) {
				conn, err := c.Connect(ctx)
				done <- result{conn, err}
			}(c)
		wait:
			for c.Stats().Retries == 0 {
				select {
				case r := <-done:
					if r.err != nil {
						t.Fatalf("Connect failed before it retried: %v", r.err)
					}
					held = append(held, r.conn)
					if attempt == 5 {
						t.Fatalf("Connect got in without a retry %d times: the server is not full", attempt)
					}
					if err := fill(); !strings.Contains(fmt.Sprint(err), "Too many connections") {
						t.Fatalf("filling the server again: %v", err)
					}
					break wait
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
		held[0].Close()
		if r := <-done; r.err != nil {
			t.Fatalf("Connect after a connection was freed: %v", r.err)
		} else {
			r.conn.Close()
		}
		if st := c.Stats(); st.Rejected.Total() != 0 || st.Connects != 1 {
			t.Errorf("stats %+v, want one connect and no auth failure", st)
		}
	})

	t.Run("user limits and blocked host", func(t *testing.T) {
		t.Parallel()
		s := mysqltest.New(t, mysqltest.WithSetting("max_user_connections", "2"),
			mysqltest.WithSetting("max_connect_errors", "1"), mysqltest.WithSetting("skip-name-resolve", "0"))
		if s.External() {
			t.Skip("external server (ROTASAFE_MYSQL_URL): settings not applied")
		}
		t.Run("1203 max_user_connections", func(t *testing.T) {
			user, pw := myUser(t, s, "busy")
			sec := mySecret(s, user, pw, "")
			hold(t, sec, 2)
			err := myLogin(ctx, sec, nil)
			checkRow(t, myRow{"user connections", 1203, rotasafe.ClassTransient, "max_user_connections"}, err, pw)
		})
		t.Run("1226 account MAX_USER_CONNECTIONS", func(t *testing.T) {
			user, pw := myUser(t, s, "limited")
			if err := s.Exec(ctx, "ALTER USER "+mysqltest.QuoteAccount(user, "%")+" WITH MAX_USER_CONNECTIONS 1"); err != nil {
				t.Fatal(err)
			}
			sec := mySecret(s, user, pw, "")
			hold(t, sec, 1)
			err := myLogin(ctx, sec, nil)
			checkRow(t, myRow{"account limit", 1226, rotasafe.ClassTransient, "max_user_connections"}, err, pw)
		})
		t.Run("1129 host blocked", func(t *testing.T) {
			// MariaDB keeps no connection errors for 127.0.0.1 itself; another loopback
			// address counts.
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
			addr := net.JoinHostPort(s.Host(), strconv.Itoa(s.Port()))
			for range 3 { // handshakes that fail
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					t.Skipf("cannot connect from 127.0.0.2: %v", err)
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.Read(make([]byte, 256))                                 // the greeting
				c.Write([]byte{5, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff}) // not a handshake response
				io.Copy(io.Discard, c)                                    // until the server closes
				c.Close()
			}
			user, pw := myUser(t, s, "blocked")
			// The MySQL Engine has no dial parameter; go-sql-driver's own connector with a dial
			// function from 127.0.0.2 gets the server's answer.
			cfg := s.Config(user, pw, "")
			cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			}
			conn, err := mysql.NewConnector(cfg)
			if err != nil {
				t.Fatal(err)
			}
			dc, err := conn.Connect(ctx)
			if err == nil {
				dc.Close()
			}
			checkRow(t, myRow{"blocked", 1129, rotasafe.ClassTransient, "blocked"}, err, pw)
		})
	})
}

// myFakeServer accepts TCP connections on 127.0.0.1 and hands each to serve, until the test
// ends. It returns the address.
func myFakeServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { serve(c) })
		}
	})
	return l.Addr().String()
}

// myAt points s at addr.
func myAt(s rotasafe.DBSecret, addr string) rotasafe.DBSecret {
	host, port, _ := net.SplitHostPort(addr)
	s.Host = host
	s.Port, _ = strconv.Atoi(port)
	return s
}

func mustMyLogin(t *testing.T, s rotasafe.DBSecret) {
	t.Helper()
	if err := myLogin(t.Context(), s, nil); err != nil {
		t.Fatal(err)
	}
}

// myPolicy gives up on a connect after about d, with short waits.
func myPolicy(d time.Duration) retry.Policy {
	p := login.DefaultPolicy()
	p.Initial, p.Max, p.MaxElapsed = 10*time.Millisecond, 100*time.Millisecond, d
	return p
}

// myUser creates a user of s named after prefix (mysqltest.UniqueName) with a fresh password,
// and returns both.
func myUser(tb testing.TB, s *mysqltest.Server, prefix string) (user, password string) {
	tb.Helper()
	user, password = mysqltest.UniqueName(prefix), secretenv.NewPassword()
	if err := s.CreateUser(tb.Context(), user, password); err != nil {
		tb.Fatal(err)
	}
	return user, password
}

// myEnv is a MariaDB user whose password lives in a secret of an in-process Secrets Manager
// (secretenv.Env), both real: a server from mysqltest and the aws-sdk-go-v2 client against
// smtest.
type myEnv struct {
	*secretenv.Env
	s     *mysqltest.Server
	admin *sql.DB // changes the user's password
}

// newMyEnv makes a user with a fresh password on a server of its own and a secret holding it
// as AWSCURRENT.
func newMyEnv(tb testing.TB) *myEnv {
	tb.Helper()
	s := mysqltest.New(tb)
	user, pw := myUser(tb, s, "app")
	return newMyEnvOn(tb, s, user, pw)
}

// newMyEnvOn makes a secret for an existing user of s, whose password changes as setSecret
// changes it: by its mysql_native_password hash rather than the password.
func newMyEnvOn(tb testing.TB, s *mysqltest.Server, user, pw string) *myEnv {
	tb.Helper()
	conn, err := mysql.NewConnector(s.Config(s.AdminUser(), s.AdminPassword(), ""))
	if err != nil {
		tb.Fatal(err)
	}
	e := &myEnv{s: s, admin: sql.OpenDB(conn)}
	tb.Cleanup(func() { e.admin.Close() })
	secret := func(user, password string) rotasafe.DBSecret { return mySecret(s, user, password, "") }
	setPassword := func(ctx context.Context, user, password string) error {
		_, err := e.admin.ExecContext(ctx, "ALTER USER "+mysqltest.QuoteAccount(user, "%")+
			" IDENTIFIED BY PASSWORD '"+mysqltest.NativePasswordHash(password)+"'")
		return err
	}
	e.Env = secretenv.New(tb, mysqltest.UniqueName("prod/app/mysql"), user, pw, secret, setPassword)
	return e
}

// connector returns a NewMySQL Connector for the env's secret over a cache of its own.
func (e *myEnv) connector(tb testing.TB, opts ...sqlconn.Option) *sqlconn.Connector {
	tb.Helper()
	return sqlconn.NewMySQL(e.NewCache(tb), e.SecretID, opts...)
}

// TestMySQLFallback walks one rotation step by step: when the database already holds the
// pending password, AWSCURRENT is rejected and AWSPENDING works, and is kept.
func TestMySQLFallback(t *testing.T) {
	t.Parallel()
	e := newMyEnv(t)
	c := e.connector(t)
	ctx := t.Context()

	mustConnect(t, c)
	pw := secretenv.NewPassword()
	id, err := e.PutPending(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	mustConnect(t, c)
	if err := e.AlterPassword(ctx, pw); err != nil {
		t.Fatal(err)
	}
	before := c.Stats()
	mustConnect(t, c)
	if st := c.Stats(); st.Fallbacks.Total()-before.Fallbacks.Total() != 1 || st.Rejected.Total() == before.Rejected.Total() {
		t.Errorf("connect after the password change: stats went from %+v to %+v, want one fallback after an auth failure", before, st)
	}
	before = c.Stats()
	mustConnect(t, c)
	if st := c.Stats(); st.Logins-before.Logins != 1 {
		t.Errorf("connect after the fallback: %d logins, want 1 (AWSPENDING kept)", st.Logins-before.Logins)
	}
	if err := rotasafe.Promote(ctx, e.API, e.SecretID, id); err != nil {
		t.Fatal(err)
	}
	mustConnect(t, c)
	e.s.CheckLogs(t, e.Passwords()...)
}

// TestMySQLRotationUnderLoad: 8 goroutines, each query on a fresh login, through 10
// single-user rotations: no query fails, a connection opened before keeps working, and no
// password reaches the general log or the Connector's log.
func TestMySQLRotationUnderLoad(t *testing.T) {
	t.Parallel()
	e := newMyEnv(t)
	var logs fixture.Buffer
	c := e.connector(t, sqlconn.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	db.SetMaxIdleConns(-1) // every query logs in anew
	ctx := t.Context()
	held, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	const workers, rotations = 8, 10
	l := fixture.StartLoad(workers, func(int, int) error {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var user string
		return db.QueryRowContext(qctx, "SELECT CURRENT_USER()").Scan(&user)
	})
	l.Between(t, "rotation", rotations, workers, 30*time.Second, func(int) error { return e.Rotate(ctx) })

	if err := held.PingContext(ctx); err != nil {
		t.Errorf("connection opened before the rotations: %v", err)
	}
	l.ReportErrors(t, "query")
	st := c.Stats()
	t.Logf("%d queries over %d rotations; stats %+v", l.OK(), rotations, st)
	if st.Rejected.Total() == 0 {
		t.Error("Stats().Rejected = 0: no login met a rotated password, the test proved nothing")
	}
	e.CheckNoPassword(t, "the Connector's log", logs.String())
	e.s.CheckLogs(t, e.Passwords()...)
}

// TestMySQLConnectErrorsHoldNoPassword: the errors a NewMySQL Connector returns, and every
// attempt in them, name the secret and versions but never a password, whatever failed.
func TestMySQLConnectErrorsHoldNoPassword(t *testing.T) {
	t.Parallel()
	e := newMyEnv(t)
	ctx := t.Context()
	secretPW := e.Passwords()[0]
	var currentID string
	for id, stages := range e.SM.Stages(e.SecretID) {
		if slices.Contains(stages, rotasafe.StageCurrent) {
			currentID = id
		}
	}
	acct := mysqltest.QuoteAccount(e.User, "%")
	tests := []struct {
		name   string
		setup  func() error
		params map[string]string
		number uint16
		class  rotasafe.Class
	}{
		{"password no label holds", func() error { return e.AlterPassword(ctx, secretenv.NewPassword()) }, nil, 1045, rotasafe.ClassAuth},
		{"locked", func() error {
			if err := e.AlterPassword(ctx, secretPW); err != nil {
				return err
			}
			_, err := e.admin.ExecContext(ctx, "ALTER USER "+acct+" ACCOUNT LOCK")
			return err
		}, nil, 4151, rotasafe.ClassOther},
		{"expired", func() error {
			_, err := e.admin.ExecContext(ctx, "ALTER USER "+acct+" ACCOUNT UNLOCK PASSWORD EXPIRE")
			return err
		}, nil, 1820, rotasafe.ClassOther},
		{"no grant on the database", func() error {
			_, err := e.admin.ExecContext(ctx, "ALTER USER "+acct+" IDENTIFIED BY PASSWORD '"+mysqltest.NativePasswordHash(secretPW)+"'")
			return err
		}, map[string]string{"dbname": "mysql"}, 1044, rotasafe.ClassOther},
		{"bad parameter", nil, map[string]string{"parseTime": "maybe"}, 0, rotasafe.ClassOther},
	}
	for _, tt := range tests { // in order: each builds on the previous state
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				if err := tt.setup(); err != nil {
					t.Fatal(err)
				}
			}
			opts := []sqlconn.Option{sqlconn.WithRetry(myPolicy(300 * time.Millisecond))}
			if tt.params != nil {
				opts = append(opts, sqlconn.WithParams(tt.params))
			}
			c := e.connector(t, opts...)
			_, err := c.Connect(ctx)
			ce, ok := errors.AsType[*rotasafe.ConnectError](err)
			if !ok {
				t.Fatalf("got %T %v, want a *rotasafe.ConnectError", err, err)
			}
			if n := myErrNumber(err); n != tt.number {
				t.Errorf("got error number %d (%v), want %d", n, err, tt.number)
			}
			msg := err.Error()
			if !strings.Contains(msg, e.SecretID) || !strings.Contains(msg, currentID) {
				t.Errorf("error %q names neither the secret nor version %s", msg, currentID)
			}
			if tt.number != 0 {
				if len(ce.Attempts) == 0 || ce.Attempts[0].Class != tt.class {
					t.Errorf("attempts %+v, want the first classed %v", ce.Attempts, tt.class)
				}
			}
			printed := fmt.Sprintf("%v|%+v|%#v|%s|%q", err, err, err, err, err)
			for _, a := range ce.Attempts {
				printed += fmt.Sprintf("|%v|%+v|%#v", a.Err, a.Err, a)
			}
			e.CheckNoPassword(t, "the printed error", printed)
		})
	}
	e.s.CheckLogs(t, e.Passwords()...)
}

func TestMySQLDriverName(t *testing.T) {
	t.Parallel()
	c := cache.New(smtest.New(t).Client(), cache.WithLogger(nil))
	defer c.Close()
	db := sql.OpenDB(sqlconn.NewMySQL(c, "prod/app/db"))
	defer db.Close()
	if _, ok := db.Driver().(*mysql.MySQLDriver); !ok {
		t.Errorf("db.Driver() is %T, want *mysql.MySQLDriver", db.Driver())
	}
}
