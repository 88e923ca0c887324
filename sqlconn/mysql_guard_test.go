package sqlconn_test

import (
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// clientCanHandleExpiredPasswords is the capability flag CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS.
const clientCanHandleExpiredPasswords = 1 << 22

// guardServer is a fake MySQL server that lets any login in and answers the statements of
// the expired-password guard as told: the value of disconnect_on_expired_password ("1", "0"),
// or an error number for every statement (1820 in sandbox mode, 1193 for an unknown
// variable, only for the SELECT).
type guardServer struct {
	setting string // the value of @@global.disconnect_on_expired_password

	mu      sync.Mutex // guards errno, queries and caps
	errno   uint16     // when not 0, the error of the SELECT (1193) or of every statement (1820)
	queries []string   // the statements received, in order ("PING" for COM_PING)
	caps    []uint32   // the capability flags of each login
}

// expire makes every later statement fail with 1820, as after ALTER USER ... PASSWORD EXPIRE.
func (g *guardServer) expire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.errno = 1820
}

func (g *guardServer) serve(c net.Conn) {
	defer c.Close()
	write := func(seq byte, payload []byte) error {
		hdr := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}
		_, err := c.Write(append(hdr, payload...))
		return err
	}
	read := func() ([]byte, error) {
		var hdr [4]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return nil, err
		}
		p := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
		_, err := io.ReadFull(c, p)
		return p, err
	}
	// Capabilities: CLIENT_MYSQL, LONG_FLAG, PROTOCOL_41, TRANSACTIONS, SECURE_CONNECTION,
	// PLUGIN_AUTH; no DEPRECATE_EOF, so result sets end with EOF packets.
	const caps = 1 | 4 | 1<<9 | 1<<13 | 1<<15 | 1<<19
	greet := []byte{10}
	greet = append(greet, "5.7.99-fake\x00"...)
	greet = append(greet, 1, 0, 0, 0)                 // connection id
	greet = append(greet, "abcdefgh"...)              // scramble, first part
	greet = append(greet, 0, caps&0xff, caps>>8&0xff) // filler, capabilities (low)
	greet = append(greet, 33, 2, 0)                   // charset, status
	greet = append(greet, caps>>16&0xff, caps>>24, 21)
	greet = append(greet, make([]byte, 10)...)
	greet = append(greet, "ijklmnopqrst\x00"...) // scramble, second part
	greet = append(greet, "mysql_native_password\x00"...)
	if write(0, greet) != nil {
		return
	}
	resp, err := read()
	if err != nil || len(resp) < 4 {
		return
	}
	g.mu.Lock()
	g.caps = append(g.caps, binary.LittleEndian.Uint32(resp))
	g.mu.Unlock()
	ok := []byte{0, 0, 0, 2, 0, 0, 0}
	if write(2, ok) != nil {
		return
	}
	for {
		cmd, err := read()
		if err != nil || len(cmd) == 0 {
			return
		}
		if cmd[0] == 14 { // COM_PING, which the server answers in sandbox mode too
			g.mu.Lock()
			g.queries = append(g.queries, "PING")
			g.mu.Unlock()
			if write(1, ok) != nil {
				return
			}
			continue
		}
		if cmd[0] != 3 { // COM_QUERY; anything else (COM_QUIT) ends
			return
		}
		q := string(cmd[1:])
		g.mu.Lock()
		g.queries = append(g.queries, q)
		errno := g.errno
		g.mu.Unlock()
		isSelect := strings.HasPrefix(q, "SELECT")
		switch {
		case errno == 1820 || errno != 0 && isSelect:
			e := []byte{0xff, byte(errno), byte(errno >> 8)}
			e = append(e, "#HY000fake error"...)
			err = write(1, e)
		case isSelect:
			eof := []byte{0xfe, 0, 0, 2, 0}
			col := []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, 'v', 0, 0x0c, 0x3f, 0, 1, 0, 0, 0, 8, 0x81, 0, 0, 0, 0}
			for i, p := range [][]byte{{1}, col, eof, append([]byte{byte(len(g.setting))}, g.setting...), eof} {
				if err = write(byte(i+1), p); err != nil {
					break
				}
			}
		default:
			err = write(1, ok)
		}
		if err != nil {
			return
		}
	}
}

func (g *guardServer) seen() (queries []string, caps []uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.queries), slices.Clone(g.caps)
}

// TestMySQLExpiredPasswordGuard checks which statements the guard runs over three logins of
// one version, against a fake server that answers them as MySQL and MariaDB do.
func TestMySQLExpiredPasswordGuard(t *testing.T) {
	t.Parallel()
	const ask, do1 = "SELECT @@global.disconnect_on_expired_password", "DO 1"
	tests := []struct {
		name   string
		server *guardServer
		skip   bool
		want   []string // statements the server received over three logins
		errno  uint16   // the error of each login
	}{
		{"setting on: the server refuses expired logins", &guardServer{setting: "1"}, false, []string{ask}, 0},
		{"setting off: later logins run nothing", &guardServer{setting: "0"}, false, []string{ask}, 0},
		{"no such setting: DO 1 after the first login only", &guardServer{errno: 1193}, false, []string{ask, do1}, 0},
		{"expired password: each login fails and asks again", &guardServer{errno: 1820}, false, []string{ask, ask, ask}, 1820},
		{"SkipExpiredPasswordCheck", &guardServer{setting: "0", errno: 1820}, true, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := tt.server
			addr := myFakeServer(t, g.serve)
			secret := myAt(rotasafe.DBSecret{Engine: "mysql", Username: "app", Password: "pw-not-a-secret"}, addr)
			dc, err := (sqlconn.MySQL{SkipExpiredPasswordCheck: tt.skip}).Connector(secret, nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				conn, err := dc.Connect(t.Context())
				if n := myErrNumber(err); n != tt.errno {
					t.Fatalf("got error number %d (%v), want %d", n, err, tt.errno)
				}
				if err != nil {
					if !strings.Contains(err.Error(), `the password of user "app" has expired`) {
						t.Errorf("error %q does not say that the password expired", err)
					}
					if c := (sqlconn.MySQL{}).Classify(err); c != rotasafe.ClassOther {
						t.Errorf("Classify(%v) = %v, want ClassOther", err, c)
					}
					continue
				}
				conn.Close()
			}
			queries, caps := g.seen()
			if !slices.Equal(queries, tt.want) {
				t.Errorf("got statements %q, want %q", queries, tt.want)
			}
			// The guard trusts a server with the setting on only because the driver does not
			// say it can handle expired passwords: a driver that did would get sandbox mode.
			for _, c := range caps {
				if c&clientCanHandleExpiredPasswords != 0 {
					t.Errorf("the driver announced CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS (capabilities %#x): the guard must check every login", c)
				}
			}
		})
	}
}

// TestMySQLExpiredPasswordRefusedMariaDB runs the guard against a real MariaDB with
// disconnect_on_expired_password on: the first login reads the setting, later ones run no
// statement, and the server itself refuses the password once it has expired (error 1862).
func TestMySQLExpiredPasswordRefusedMariaDB(t *testing.T) {
	t.Parallel()
	s := mysqltest.New(t, mysqltest.WithSetting("disconnect_on_expired_password", "ON"))
	ctx := t.Context()
	user, pw := myUser(t, s, "app")
	dc, err := (sqlconn.MySQL{}).Connector(mySecret(s, user, pw, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		conn, err := dc.Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	log, err := s.ReadGeneralLog()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log, "SELECT @@global.disconnect_on_expired_password"); n != 1 {
		t.Errorf("the general log holds the setting's query %d times, want once", n)
	}
	if strings.Contains(log, "DO 1") {
		t.Error("the general log holds DO 1, want no check where the server refuses expired passwords")
	}
	if err := s.Exec(ctx, "ALTER USER "+mysqltest.QuoteAccount(user, "%")+" PASSWORD EXPIRE"); err != nil {
		t.Fatal(err)
	}
	_, err = dc.Connect(ctx)
	checkRow(t, myRow{"expired", 1862, rotasafe.ClassOther, "has expired"}, err, pw)
	s.CheckLogs(t, pw)
}

// TestMySQLExpiredPasswordWatch: where the server lets expired passwords in, later logins
// run no statement; the first statement that meets sandbox mode (1820) explains it and
// matches driver.ErrBadConn, so that database/sql retries on a new connection, whose login
// checks again and fails with the same explanation.
func TestMySQLExpiredPasswordWatch(t *testing.T) {
	t.Parallel()
	const ask, do1 = "SELECT @@global.disconnect_on_expired_password", "DO 1"
	g := &guardServer{setting: "0"}
	addr := myFakeServer(t, g.serve)
	secret := myAt(rotasafe.DBSecret{Engine: "mysql", Username: "app", Password: "pw-not-a-secret"}, addr)
	dc, err := (sqlconn.MySQL{}).Connector(secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	connect := func() driver.Conn {
		t.Helper()
		conn, err := dc.Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	connect() // learns that the server lets expired passwords in
	pinged := connect()
	if err := pinged.(driver.Pinger).Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pinged.(driver.Pinger).Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if q, _ := g.seen(); !slices.Equal(q, []string{ask, do1, "PING"}) {
		t.Errorf("got statements %q, want %q: the first Ping checks, the next pings", q, []string{ask, do1, "PING"})
	}

	g.expire()
	sandboxed := connect() // the login itself passes, in sandbox mode
	_, err = sandboxed.(driver.ExecerContext).ExecContext(ctx, "INSERT INTO t VALUES (1)", nil)
	if !errors.Is(err, driver.ErrBadConn) || myErrNumber(err) != 1820 || !strings.Contains(err.Error(), `the password of user "app" has expired`) {
		t.Errorf("first statement in sandbox mode: got %v, want the explained 1820 matching driver.ErrBadConn", err)
	}
	if _, err := dc.Connect(ctx); myErrNumber(err) != 1820 || errors.Is(err, driver.ErrBadConn) {
		t.Errorf("login after a statement met sandbox mode: got %v, want the check's 1820", err)
	}

	// database/sql drops the connection and retries; the new login fails with the reason.
	db := sql.OpenDB(dc)
	defer db.Close()
	if err := db.PingContext(ctx); myErrNumber(err) != 1820 || !strings.Contains(err.Error(), "has expired") {
		t.Errorf("db.Ping with an expired password: got %v, want the explained 1820", err)
	}
}

// TestMySQLExpiryConnMethods: the connection the guard hands out where the server lets
// expired passwords in has every method of go-sql-driver/mysql's own, and implements
// exactly the driver interfaces it does, so that database/sql uses it the same way.
func TestMySQLExpiryConnMethods(t *testing.T) {
	t.Parallel()
	g := &guardServer{setting: "0"}
	addr := myFakeServer(t, g.serve)
	secret := myAt(rotasafe.DBSecret{Engine: "mysql", Username: "app", Password: "pw-not-a-secret"}, addr)
	conn := func(m sqlconn.MySQL) driver.Conn {
		t.Helper()
		dc, err := m.Connector(secret, nil)
		if err != nil {
			t.Fatal(err)
		}
		var c driver.Conn
		for range 2 { // the second login of a version is the one without a check
			if c, err = dc.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
		}
		return c
	}
	raw, wrapped := conn(sqlconn.MySQL{SkipExpiredPasswordCheck: true}), conn(sqlconn.MySQL{})
	rt, wt := reflect.TypeOf(raw), reflect.TypeOf(wrapped)
	if rt == wt {
		t.Fatalf("the guard handed out the driver's own %v, want its wrapper", rt)
	}
	for i := range rt.NumMethod() {
		if name := rt.Method(i).Name; !hasMethod(wt, name) {
			t.Errorf("the wrapper lacks the driver's method %s", name)
		}
	}
	for _, iface := range []reflect.Type{
		reflect.TypeFor[driver.Execer](), reflect.TypeFor[driver.Queryer](), //lint:ignore SA1019 the driver implements them
		reflect.TypeFor[driver.ExecerContext](), reflect.TypeFor[driver.QueryerContext](),
		reflect.TypeFor[driver.ConnPrepareContext](), reflect.TypeFor[driver.ConnBeginTx](),
		reflect.TypeFor[driver.Pinger](), reflect.TypeFor[driver.NamedValueChecker](),
		reflect.TypeFor[driver.SessionResetter](), reflect.TypeFor[driver.Validator](),
		reflect.TypeFor[io.Closer](),
	} {
		if r, w := rt.Implements(iface), wt.Implements(iface); r != w {
			t.Errorf("%v: the driver's connection implements it: %v, the wrapper: %v", iface, r, w)
		}
	}
}

func hasMethod(t reflect.Type, name string) bool {
	_, ok := t.MethodByName(name)
	return ok
}
