// Package redistest starts throw-away redis-server processes for tests and benchmarks, the
// Redis counterpart of internal/testserver/pgtest: each on a random free 127.0.0.1 port, with an ACL
// admin user and the default user disabled, stopped when the test ends. It also holds what
// the tests of both sides of a Redis rotation (rotate/redisacl and redisconn) need around
// one: application users, a Secrets Manager holding their secrets ([Env]), and checks of
// what Redis's ACL holds.
package redistest

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe/internal/redissecret"
)

// EnvRequireIntegration names the environment variable that, set to 1, turns the skip New
// does without redis-server into a failure.
const EnvRequireIntegration = "ROTASAFE_REQUIRE_INTEGRATION"

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
	certs   *Certs // the server speaks TLS only, with these
	aclFile string // the server keeps its users in this file (ACL SAVE writes it)
}

// WithTLS makes the server speak TLS only, with certs; Server.TLS then trusts them.
func WithTLS(certs *Certs) Option { return func(c *config) { c.certs = certs } }

// WithACLFile makes the server keep its users in file (which ACL SAVE writes). The file is
// created or overwritten.
func WithACLFile(file string) Option { return func(c *config) { c.aclFile = file } }

// New starts redis-server for a test or benchmark and stops it when the test ends
// (tb.Cleanup). Without the binary it skips the test with a message that says what to
// install, or fails it when ROTASAFE_REQUIRE_INTEGRATION=1. Any other error fails the test.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	var cfg config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		const msg = "redis-server not found; install it (Debian: apt-get install redis-server)"
		if os.Getenv(EnvRequireIntegration) == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	var lastErr error
	for range 3 { // the free port may be taken between finding and binding it
		s, err := start(tb, bin, cfg)
		if err == nil {
			return s
		}
		lastErr = err
	}
	tb.Fatalf("start redis-server: %v", lastErr)
	return nil
}

func start(tb testing.TB, bin string, o config) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := tb.TempDir()
	var out bytes.Buffer
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir, "--daemonize", "no", "--protected-mode", "no"}
	if o.aclFile != "" {
		if err := os.WriteFile(o.aclFile, []byte("user default on nopass ~* &* +@all\n"), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--aclfile", o.aclFile)
	}
	var tlsCfg *tls.Config
	if certs := o.certs; certs != nil {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(port), "--tls-cert-file", certs.CertFile,
			"--tls-key-file", certs.KeyFile, "--tls-ca-cert-file", certs.CertFile, "--tls-auth-clients", "no")
		tlsCfg = &tls.Config{RootCAs: certs.Pool, ServerName: "127.0.0.1"}
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-done
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Host: "127.0.0.1", Port: port,
		AdminUser: "rotator", AdminPassword: Password(tb), TLS: tlsCfg}

	// The default user has no password until the admin exists; then it is disabled.
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DisableIdentity: true, TLSConfig: tlsCfg})
	defer c.Close()
	ctx := tb.Context()
	deadline := time.Now().Add(time.Minute) // a hang guard: a loaded machine may start it slowly
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			break
		}
		select {
		case werr := <-done:
			done <- werr
			stop()
			return nil, fmt.Errorf("redis-server exited (%v): %s", werr, out.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("redis-server did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.Do(ctx, "ACL", "SETUSER", s.AdminUser, "on", redissecret.PasswordHash(s.AdminPassword), "~*", "&*", "+@all").Err(); err != nil {
		stop()
		return nil, err
	}
	if err := c.Do(ctx, "ACL", "SETUSER", "default", "off", "resetpass").Err(); err != nil {
		stop()
		return nil, err
	}
	tb.Cleanup(stop)
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
