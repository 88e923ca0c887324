package reliability

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/redisconn"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/redisacl"
	"github.com/rotasafe/rotasafe/smtest"
)

// startRedis runs redis-server on a free port with an admin user and an app user, and returns
// its address; it skips without the binary (fails with ROTASAFE_REQUIRE_INTEGRATION=1).
func startRedis(t *testing.T, out *logBuffer, adminPW, appUser, appPW string) (string, int) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		const msg = "redis-server not found; install it (Debian: apt-get install redis-server)"
		if os.Getenv(pgtest.EnvRequireIntegration) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--loglevel", "debug", "--protected-mode", "no")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	ctx := t.Context()
	for deadline := time.Now().Add(hangGuard); c.Ping(ctx).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("redis-server does not answer")
		}
	}
	for _, args := range [][]any{
		{"ACL", "SETUSER", "rotator", "on", redisacl.PasswordHash(adminPW), "~*", "&*", "+@all"},
		{"ACL", "SETUSER", appUser, "on", redisacl.PasswordHash(appPW), "~*", "+@all"},
		{"ACL", "SETUSER", "default", "off", "resetpass"},
	} {
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return "127.0.0.1", port
}

// TestNoSecretLeaksRedis is TestNoSecretLeaks for Redis ACL users (rotate/redisacl): three
// rotations through RotateSecret with an application reading through cache and
// redisconn.NewClient, a failed API call, a wrong password; then every password, secret string
// and RotationToken is looked for in the debug logs, the errors, ACL LIST, ACL LOG and the
// server's own debug log.
func TestNoSecretLeaksRedis(t *testing.T) {
	// Apart from the others: its own servers; run beside them so that the package stays
	// within go test's ten minutes on a loaded 2-core machine.
	t.Parallel()
	var logs, serverLog logBuffer
	log := debugLogger(&logs)
	adminPW, appPW, wrongPW := newPassword(), newPassword(), newPassword()
	appUser := "app"
	host, port := startRedis(t, &serverLog, adminPW, appUser, appPW)
	e := newEnv(t, nil, smtest.WithRequestLog(log))
	r := &recorder{}
	for _, s := range []string{adminPW, appPW, wrongPW} {
		r.secret(s)
	}
	ctx := t.Context()
	secret := func(user, pw, master string) string {
		b, err := rotasafe.DBSecret{Engine: "redis", Host: host, Port: port, Username: user, Password: pw, MasterARN: master}.MarshalSecret()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	master := e.createSecret(secret("rotator", adminPW, ""))
	id := e.createSecret(secret(appUser, appPW, master))
	wrong := e.createSecret(secret(appUser, wrongPW, master))
	h := rotate.NewHandler(e.api, redisacl.Strategy(), rotate.WithLogger(log))
	fn := "arn:aws:lambda:us-east-1:123456789012:function:redis"
	e.sm.RegisterRotationFunc(fn, func(ctx context.Context, ev rotasafe.Event) error {
		r.secret(ev.RotationToken)
		r.print(ev)
		return r.call(func() error { return h.Handle(ctx, ev) })
	})
	c := cache.New(e.api, cache.WithLogger(log), cache.WithMinRefreshInterval(time.Millisecond))
	defer c.Close()
	rdb := redisconn.NewClient(c, id, &redis.Options{MaxRetries: -1})
	defer rdb.Close()
	for i := range 3 {
		if err := e.rotateSecret(ctx, id, fn, ""); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		if err := r.call(func() error { return rdb.Ping(ctx).Err() }); err != nil {
			t.Fatalf("after rotation %d: %v", i+1, err)
		}
	}
	e.sm.Faults().FailAt(4, "InternalServiceError")
	if err := r.call(func() error { return e.rotateSecret(ctx, id, fn, "") }); err == nil {
		t.Fatal("a rotation with a failed API call succeeded")
	}
	e.sm.Faults().Clear()
	if _, err := e.sm.TriggerRotation(ctx, id); err != nil {
		t.Fatal(err)
	}
	bad := redisconn.NewClient(c, wrong, &redis.Options{MaxRetries: -1})
	defer bad.Close()
	start := time.Now()
	bctx, cancel := context.WithTimeout(ctx, time.Second) // redisconn retries rejected logins for up to 10s
	defer cancel()
	if err := r.call(func() error { return bad.Ping(bctx).Err() }); err == nil {
		t.Fatal("a wrong password logged in")
	}
	t.Logf("wrong password refused after %v", time.Since(start))
	if err := r.call(func() error { _, err := rotate.Rotate(ctx, e.api, wrong, h); return err }); err == nil {
		t.Fatal("rotating a secret whose password is wrong succeeded")
	}
	r.print(c.Stats())
	admin := redis.NewClient(&redis.Options{Addr: net.JoinHostPort(host, strconv.Itoa(port)), Username: "rotator", Password: adminPW, MaxRetries: -1})
	defer admin.Close()
	var acl strings.Builder
	for _, cmd := range [][]any{{"ACL", "LIST"}, {"ACL", "LOG"}, {"ACL", "GETUSER", appUser}} {
		v, err := admin.Do(ctx, cmd...).Result()
		if err != nil {
			t.Fatal(err)
		}
		acl.WriteString(formats(v))
	}
	for _, sid := range []string{master, id, wrong} {
		for _, v := range e.sm.Versions(sid) {
			if !v.HasValue {
				continue
			}
			ver, err := rotasafe.Fetch(ctx, e.api, sid, v.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			r.secret(ver.SecretString)
			if s, err := rotasafe.ParseDBSecret([]byte(ver.SecretString)); err == nil {
				r.secret(s.Password)
			}
		}
	}
	haystacks := map[string]string{"log lines": logs.String(), "redis-server log": serverLog.String(), "ACL LIST, LOG, GETUSER": acl.String(), "errors and printed values": r.hay.String()}
	hits := 0
	for s := range r.secrets {
		for _, n := range needles(s) {
			for where, hay := range haystacks {
				if strings.Contains(hay, n) {
					hits++
					t.Errorf("a secret (%d bytes) leaked into the %s", len(s), where)
				}
			}
		}
	}
	t.Logf("secrets %d (x7 forms); log bytes %d, server log bytes %d, errors %d; hits %d", len(r.secrets), len(logs.String()), len(serverLog.String()), r.errs, hits)
}
