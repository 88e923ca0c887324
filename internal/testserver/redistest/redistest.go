// Package redistest starts throw-away redis-server processes for tests and benchmarks, the
// Redis counterpart of internal/testserver/pgtest: each on a random free 127.0.0.1 port, with an ACL
// admin user and the default user disabled, stopped when the test ends. It also holds what
// the tests of both sides of a Redis rotation (rotate/redisacl and redisconn) need around
// one: application users, a Secrets Manager holding their secrets ([Env]), and checks of
// what Redis's ACL holds.
package redistest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe/internal/redissecret"
	"github.com/rotasafe/rotasafe/internal/testserver"
)

// ErrNotInstalled says that redis-server was not found, and how to install it.
var ErrNotInstalled = testserver.NotInstalled("redistest: redis-server not found; install it (Debian: apt-get install redis-server)")

// Server is a throw-away redis-server on a random 127.0.0.1 port with an ACL admin user
// (allowed everything) and the default user disabled.
type Server struct {
	Addr          string // host:port
	Host          string
	Port          int
	AdminUser     string
	AdminPassword string
	TLS           *tls.Config // the clients' TLS configuration; nil for a plain server
}

// Option configures [New].
type Option func(*config)

type config struct {
	certs   *Certs    // the server speaks TLS only, with these
	aclFile string    // the server keeps its users in this file (ACL SAVE writes it)
	log     io.Writer // the server logs at debug level here
}

// WithTLS makes the server speak TLS only, with certs; Server.TLS then trusts them.
func WithTLS(certs *Certs) Option { return func(c *config) { c.certs = certs } }

// WithACLFile makes the server keep its users in file (which ACL SAVE writes). The file is
// created or overwritten.
func WithACLFile(file string) Option { return func(c *config) { c.aclFile = file } }

// WithLog makes the server log at debug level (every connection, every failed login) to w,
// which tests search for secrets. w must be safe for concurrent writes.
func WithLog(w io.Writer) Option { return func(c *config) { c.log = w } }

// New starts redis-server for a test or benchmark and stops it when the test ends
// (tb.Cleanup). Without the binary it skips the test with a message that says what to
// install, or fails it when ROTASAFE_REQUIRE_INTEGRATION=1. Any other error fails the test.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	cfg := testserver.Configure(opts)
	bin := testserver.FindBinary(nil, "redis-server")
	if bin == "" {
		testserver.SkipOrFail(tb, ErrNotInstalled)
	}
	s := &Server{Host: "127.0.0.1", AdminUser: "rotator", AdminPassword: Password(tb)}
	dir := tb.TempDir()
	var proc *testserver.Process
	port, err := testserver.OnFreePort(func(port int) (err error) {
		proc, err = s.start(tb.Context(), bin, dir, port, cfg)
		return err
	})
	if err != nil {
		tb.Fatalf("redistest: start redis-server: %v", err)
	}
	tb.Cleanup(proc.Kill)
	s.Port, s.Addr = port, net.JoinHostPort(s.Host, strconv.Itoa(port))
	return s
}

// start runs redis-server on port, waits until it answers, creates the admin user and
// disables the default user.
func (s *Server) start(ctx context.Context, bin, dir string, port int, o config) (*testserver.Process, error) {
	addr := net.JoinHostPort(s.Host, strconv.Itoa(port))
	args := []string{"--port", strconv.Itoa(port), "--bind", s.Host, "--save", "",
		"--appendonly", "no", "--dir", dir, "--daemonize", "no", "--protected-mode", "no"}
	if o.aclFile != "" {
		if err := os.WriteFile(o.aclFile, []byte("user default on nopass ~* &* +@all\n"), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--aclfile", o.aclFile)
	}
	s.TLS = nil
	if certs := o.certs; certs != nil {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(port), "--tls-cert-file", certs.CertFile,
			"--tls-key-file", certs.KeyFile, "--tls-ca-cert-file", certs.CertFile, "--tls-auth-clients", "no")
		s.TLS = &tls.Config{RootCAs: certs.Pool, ServerName: s.Host}
	}
	var out testserver.Buffer
	var w io.Writer = &out
	if o.log != nil {
		args = append(args, "--loglevel", "debug")
		w = io.MultiWriter(&out, o.log)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = w, w
	p, err := testserver.StartProcess(cmd, "")
	if err != nil {
		return nil, err
	}
	// The default user has no password until the admin exists; then it is disabled.
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true, TLSConfig: s.TLS})
	defer c.Close()
	if err := testserver.WaitReady(ctx, p, func(ctx context.Context) error { return c.Ping(ctx).Err() }); err != nil {
		p.Kill()
		return nil, testserver.MarkPortTaken(fmt.Errorf("%w: %s", err, testserver.Tail([]byte(out.String()))), out.String())
	}
	for _, args := range [][]any{
		{"ACL", "SETUSER", s.AdminUser, "on", redissecret.PasswordHash(s.AdminPassword), "~*", "&*", "+@all"},
		{"ACL", "SETUSER", "default", "off", "resetpass"},
	} {
		if err := c.Do(ctx, args...).Err(); err != nil {
			p.Kill()
			return nil, err
		}
	}
	return p, nil
}

// Password returns a random password with characters that need care in a command line.
func Password(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 18)
	rand.Read(b)
	return "p w\"'#>" + hex.EncodeToString(b)
}

var nameSeq struct {
	sync.Mutex
	n int
}

// UniqueName returns prefix with a number no other call in the process got.
func UniqueName(prefix string) string {
	nameSeq.Lock()
	defer nameSeq.Unlock()
	nameSeq.n++
	return fmt.Sprintf("%s%d", prefix, nameSeq.n)
}

// Admin returns a client logged in as the ACL admin, closed when the test ends.
func (s *Server) Admin(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Username: s.AdminUser, Password: s.AdminPassword, DisableIdentity: true, TLSConfig: s.TLS})
	tb.Cleanup(func() { c.Close() })
	return c
}

// AppRules are the rules of an application user (see CreateUser) besides its passwords.
var AppRules = []any{"on", "~app:*", "&*", "+@all", "-@dangerous"}

// CreateUser makes name an application user with the rules of AppRules and one password,
// replacing what name had.
func (s *Server) CreateUser(tb testing.TB, name, password string) {
	tb.Helper()
	args := append([]any{"ACL", "SETUSER", name, "reset", redissecret.PasswordHash(password)}, AppRules...)
	if err := s.Admin(tb).Do(tb.Context(), args...).Err(); err != nil {
		tb.Fatal(err)
	}
}

// Accepts reports whether user logs in with password on a fresh connection. An error other
// than a rejected login fails the test.
func (s *Server) Accepts(tb testing.TB, user, password string) bool {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Username: user, Password: password, MaxRetries: -1, PoolSize: 1, DisableIdentity: true, TLSConfig: s.TLS})
	defer c.Close()
	err := c.Ping(tb.Context()).Err()
	if err != nil && !redis.IsAuthError(err) {
		tb.Fatalf("login as %s: %v", user, err)
	}
	return err == nil
}

// ACLUser is what ACL GETUSER says about a user.
type ACLUser struct {
	Flags, Passwords []string // sorted; passwords as hex SHA-256 hashes
	Rest             string   // keys, channels, commands, selectors as text
	Raw              string   // the whole reply as text
}

// GetUser runs ACL GETUSER name as the admin.
func (s *Server) GetUser(tb testing.TB, name string) ACLUser {
	tb.Helper()
	res, err := s.Admin(tb).Do(tb.Context(), "ACL", "GETUSER", name).Result()
	if err != nil {
		tb.Fatal(err)
	}
	m := map[string]any{}
	switch r := res.(type) {
	case map[any]any: // RESP3
		for k, v := range r {
			m[fmt.Sprint(k)] = v
		}
	case []any: // RESP2
		for i := 0; i+1 < len(r); i += 2 {
			m[fmt.Sprint(r[i])] = r[i+1]
		}
	default:
		tb.Fatalf("ACL GETUSER: unexpected reply %T", res)
	}
	strs := func(v any) []string {
		var out []string
		if l, ok := v.([]any); ok {
			for _, x := range l {
				out = append(out, fmt.Sprint(x))
			}
		}
		slices.Sort(out)
		return out
	}
	u := ACLUser{Flags: strs(m["flags"]), Passwords: strs(m["passwords"]), Raw: fmt.Sprint(res)}
	for _, k := range []string{"keys", "channels", "commands", "selectors"} {
		u.Rest += fmt.Sprintf("%s=%v ", k, m[k])
	}
	return u
}

// ACLList returns ACL LIST as one string.
func (s *Server) ACLList(tb testing.TB) string {
	tb.Helper()
	l, err := s.Admin(tb).Do(tb.Context(), "ACL", "LIST").StringSlice()
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Join(l, "\n")
}

// RulesOf returns the rules (keys, channels, commands) a user made by CreateUser has.
func (s *Server) RulesOf(tb testing.TB) string {
	tb.Helper()
	name := "reference"
	s.CreateUser(tb, name, "reference-password")
	return s.GetUser(tb, name).Rest
}
