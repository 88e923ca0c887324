package redisacl

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/smtest"
)

// redisServer is a throw-away redis-server on a random 127.0.0.1 port with an ACL admin
// user and the default user disabled.
type redisServer struct {
	addr      string
	host      string
	port      int
	adminUser string
	adminPass string
	tls       *tls.Config // the clients' TLS configuration; nil for a plain server
}

// startRedis starts redis-server for the test and stops it in t.Cleanup. Without the binary
// the test is skipped, or fails when ROTASAFE_REQUIRE_INTEGRATION=1.
func startRedis(t testing.TB) *redisServer { return startRedisWith(t, serverOpts{}) }

// serverOpts are the variants of a test server.
type serverOpts struct {
	certs   *testCerts // the server speaks TLS only, with these
	aclFile string     // the server keeps its users in this file (ACL SAVE writes it)
}

// startRedisWith is startRedis with options.
func startRedisWith(t testing.TB, o serverOpts) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		const msg = "redis-server not found; install it (Debian: apt-get install redis-server)"
		if os.Getenv("ROTASAFE_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var lastErr error
	for range 3 { // the free port may be taken between finding and binding it
		s, err := tryStartRedis(t, bin, o)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

func tryStartRedis(t testing.TB, bin string, o serverOpts) (*redisServer, error) {
	certs := o.certs
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
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
	if certs != nil {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(port), "--tls-cert-file", certs.certFile,
			"--tls-key-file", certs.keyFile, "--tls-ca-cert-file", certs.certFile, "--tls-auth-clients", "no")
		tlsCfg = &tls.Config{RootCAs: certs.pool, ServerName: "127.0.0.1"}
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
	s := &redisServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), host: "127.0.0.1", port: port,
		adminUser: "rotator", adminPass: newPassword(t), tls: tlsCfg}

	// The default user has no password until the admin exists; then it is disabled.
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1, DisableIdentity: true, TLSConfig: tlsCfg})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(t.Context()).Err()
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
	ctx := t.Context()
	if err := c.Do(ctx, "ACL", "SETUSER", s.adminUser, "on", PasswordHash(s.adminPass), "~*", "&*", "+@all").Err(); err != nil {
		stop()
		return nil, err
	}
	if err := c.Do(ctx, "ACL", "SETUSER", "default", "off", "resetpass").Err(); err != nil {
		stop()
		return nil, err
	}
	t.Cleanup(stop)
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

// newPassword returns a random password with characters that need care in a command line.
func newPassword(t testing.TB) string {
	t.Helper()
	b := make([]byte, 18)
	rand.Read(b)
	return "p w\"'#>" + hex.EncodeToString(b)
}

// admin returns a client logged in as the ACL admin.
func (s *redisServer) admin(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.addr, Username: s.adminUser, Password: s.adminPass, DisableIdentity: true, TLSConfig: s.tls})
	t.Cleanup(func() { c.Close() })
	return c
}

// appRules are the rules of the rotated user besides its passwords.
var appRules = []any{"on", "~app:*", "&*", "+@all", "-@dangerous"}

// user creates an application user with the rules of appRules and one password.
func (s *redisServer) user(t testing.TB, name, password string) {
	t.Helper()
	args := append([]any{"ACL", "SETUSER", name, "reset", PasswordHash(password)}, appRules...)
	if err := s.admin(t).Do(t.Context(), args...).Err(); err != nil {
		t.Fatal(err)
	}
}

// accepts reports whether user logs in with password on a fresh connection.
func (s *redisServer) accepts(t testing.TB, user, password string) bool {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.addr, Username: user, Password: password, MaxRetries: -1, PoolSize: 1, DisableIdentity: true, TLSConfig: s.tls})
	defer c.Close()
	err := c.Ping(t.Context()).Err()
	if err != nil && !redis.IsAuthError(err) {
		t.Fatalf("login as %s: %v", user, err)
	}
	return err == nil
}

// aclUser is what ACL GETUSER says about a user.
type aclUser struct {
	flags, passwords []string
	rest             string // keys, channels, commands, selectors as text
	raw              string // the whole reply as text
}

func (s *redisServer) getUser(t testing.TB, name string) aclUser {
	t.Helper()
	res, err := s.admin(t).Do(t.Context(), "ACL", "GETUSER", name).Result()
	if err != nil {
		t.Fatal(err)
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
		t.Fatalf("ACL GETUSER: unexpected reply %T", res)
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
	u := aclUser{flags: strs(m["flags"]), passwords: strs(m["passwords"]), raw: fmt.Sprint(res)}
	for _, k := range []string{"keys", "channels", "commands", "selectors"} {
		u.rest += fmt.Sprintf("%s=%v ", k, m[k])
	}
	return u
}

// aclList returns ACL LIST as one string.
func (s *redisServer) aclList(t testing.TB) string {
	t.Helper()
	l, err := s.admin(t).Do(t.Context(), "ACL", "LIST").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(l, "\n")
}

// env is a Redis server, a Secrets Manager holding the admin secret, and a client that does
// not retry, so an injected fault reaches the handler.
type env struct {
	t         testing.TB
	rs        *redisServer
	sm        *smtest.Server
	api       *secretsmanager.Client
	masterARN string
}

func newEnv(t testing.TB) *env { return newEnvTLS(t, nil) }

// newEnvTLS is newEnv with a server that speaks TLS only when certs is not nil.
func newEnvTLS(t testing.TB, certs *testCerts) *env { return newEnvWith(t, serverOpts{certs: certs}) }

// newEnvWith is newEnv with a server made with o.
func newEnvWith(t testing.TB, o serverOpts) *env {
	t.Helper()
	rs := startRedisWith(t, o)
	sm := smtest.New(t)
	e := &env{t: t, rs: rs, sm: sm, api: sm.Client(func(o *secretsmanager.Options) { o.Retryer = aws.NopRetryer{} })}
	e.masterARN = e.createSecret("redis-admin", rotasafe.DBSecret{Engine: "redis", Host: rs.host, Port: rs.port, Username: rs.adminUser, Password: rs.adminPass})
	return e
}

var nameSeq struct {
	sync.Mutex
	n int
}

// uniqueName returns prefix with a number no other call in the process got.
func uniqueName(prefix string) string {
	nameSeq.Lock()
	defer nameSeq.Unlock()
	nameSeq.n++
	return fmt.Sprintf("%s%d", prefix, nameSeq.n)
}

// appSecret creates a Redis user and its secret (with masterarn and an extra field), and
// returns the secret's ARN, the user and its password.
func (e *env) appSecret() (arn, user, password string) {
	e.t.Helper()
	user, password = uniqueName("app"), newPassword(e.t)
	e.rs.user(e.t, user, password)
	s := rotasafe.DBSecret{Engine: "redis", Host: e.rs.host, Port: e.rs.port, Username: user, Password: password, MasterARN: e.masterARN}
	b, err := s.MarshalSecret()
	if err != nil {
		e.t.Fatal(err)
	}
	raw := strings.TrimSuffix(string(b), "}") + fmt.Sprintf(`,"tls":%t,"team":"payments"}`, e.rs.tls != nil)
	out, err := e.api.CreateSecret(e.t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(uniqueName("redis-app")), SecretString: aws.String(raw)})
	if err != nil {
		e.t.Fatal(err)
	}
	return aws.ToString(out.ARN), user, password
}

func (e *env) createSecret(name string, s rotasafe.DBSecret) string {
	e.t.Helper()
	b, err := s.MarshalSecret()
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := e.api.CreateSecret(e.t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(string(b))})
	if err != nil {
		e.t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// password returns the password of the version holding stage, and the version's ID; ok is
// false when no version holds it.
func (e *env) password(id, stage string) (pw, versionID string, ok bool) {
	e.t.Helper()
	v, err := rotasafe.Fetch(context.WithoutCancel(e.t.Context()), e.api, id, "", stage)
	if rotasafe.IsNotFound(err) {
		return "", "", false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		e.t.Fatal(err)
	}
	return s.Password, v.ID, true
}

// labels reads the secret's staging labels.
func (e *env) labels(id string) rotasafe.Labels {
	e.t.Helper()
	l, err := rotasafe.DescribeLabels(e.t.Context(), e.api, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// failingHook fails the k-th Redis command (1-based; the commands a connection's handshake
// sends count) of the clients it is added to, and counts them all. Dials pass: go-redis
// retries a failed dial itself.
type failingHook struct {
	mu   sync.Mutex
	k, n int
}

var errInjected = errors.New("injected redis failure")

func (h *failingHook) next() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	if h.n == h.k {
		return errInjected
	}
	return nil
}

func (h *failingHook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

func (h *failingHook) DialHook(next redis.DialHook) redis.DialHook {
	return next
}

func (h *failingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := h.next(); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h *failingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := h.next(); err != nil {
			return err
		}
		return next(ctx, cmds)
	}
}

// putCurrent is a PutSecretValue that makes value AWSCURRENT.
func putCurrent(id, value string) *secretsmanager.PutSecretValueInput {
	return &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(value), VersionStages: []string{rotasafe.StageCurrent}}
}
