package reliability

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
	"github.com/rotasafe/rotasafe/retry"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/smtest"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// TestNoSecretLeaksMySQL is TestNoSecretLeaks for MySQL and MariaDB: the three MySQL
// strategies through RotateSecret with an application reading through cache and
// sqlconn.NewMySQL meanwhile, and every failing path that can be provoked (injected API
// faults, a stopped server, wrong passwords, malformed secrets); then every password, its
// mysql_native_password hash, every secret string and RotationToken (and their base64 and hex
// forms) is looked for in every log line (debug level, JSON and text), error, panic value,
// printed value, and the server's general and error logs. The hashes may be in the general log
// (that is how they reach the server) but nowhere else.
func TestNoSecretLeaksMySQL(t *testing.T) {
	// Apart from the others: its own servers; run beside them so that the package stays
	// within go test's ten minutes on a loaded 2-core machine.
	t.Parallel()
	my := mysqltest.New(t)
	var logs logBuffer
	log := debugLogger(&logs)
	e := newMyEnv(t, my, smtest.WithRequestLog(log))
	r := &recorder{}
	hashes := map[string]bool{}
	ctx := t.Context()
	r.secret(my.AdminPassword())
	r.print(my)
	master := e.master()
	policy := retry.Policy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, MaxElapsed: time.Second}
	var ids []string

	for _, sc := range myScenarios {
		fn := "arn:aws:lambda:us-east-1:123456789012:function:" + sc.name
		h := rotate.NewHandler(e.api, printingStrategy{sc.strategy(rotate.WithTLSMode(rotate.TLSDisable)), r}, rotate.WithLogger(log))
		e.sm.RegisterRotationFunc(fn, func(ctx context.Context, ev rotasafe.Event) error {
			r.secret(ev.RotationToken)
			r.print(ev)
			return r.call(func() error { return h.Handle(ctx, ev) })
		})
		id, pw := e.newDBSecret(master)
		ids = append(ids, id)
		r.secret(pw)
		c := cache.New(e.api, cache.WithLogger(log), cache.WithTTL(time.Minute), cache.WithMinRefreshInterval(time.Millisecond))
		conn := sqlconn.NewMySQL(c, id, sqlconn.WithLogger(log), sqlconn.WithRetry(policy))
		db := openDB(t, sql.OpenDB(conn))
		ping := func() error {
			ctx, cancel := context.WithTimeout(ctx, hangGuard)
			defer cancel()
			return r.call(func() error { return db.PingContext(ctx) })
		}
		for i := range 3 {
			if err := e.rotateSecret(ctx, id, fn, ""); err != nil {
				t.Fatalf("%s: rotation %d: %v", sc.name, i+1, err)
			}
			if err := ping(); err != nil {
				t.Fatalf("%s: after rotation %d: %v", sc.name, i+1, err)
			}
		}
		// An API call of the rotation fails; the scheduler's retry finishes it.
		e.sm.Faults().FailAt(4, "InternalServiceError")
		if err := r.call(func() error { return e.rotateSecret(ctx, id, fn, "") }); err == nil {
			t.Fatalf("%s: rotation with a failed API call succeeded", sc.name)
		}
		e.sm.Faults().Clear()
		if _, err := e.sm.TriggerRotation(ctx, id); err != nil {
			t.Fatalf("%s: rerun: %v", sc.name, err)
		}
		// The server is down: the app's connects and the rotation fail, then recover.
		if err := my.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ping(); err == nil {
			t.Fatalf("%s: ping with the server stopped succeeded", sc.name)
		}
		if err := r.call(func() error { return e.rotateSecret(ctx, id, fn, "") }); err == nil {
			t.Fatalf("%s: rotation with the server stopped succeeded", sc.name)
		}
		if err := my.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.sm.TriggerRotation(ctx, id); err != nil {
			t.Fatalf("%s: rerun after the restart: %v", sc.name, err)
		}
		if err := ping(); err != nil {
			t.Fatalf("%s: after the restart: %v", sc.name, err)
		}
		var vs []rotasafe.Version
		for _, stage := range []string{rotasafe.StageCurrent, rotasafe.StagePending, rotasafe.StagePrevious} {
			if v, err := c.GetStage(ctx, id, stage); err == nil {
				vs = append(vs, v)
			}
		}
		for _, v := range vs {
			r.print(v)
			if s, err := rotasafe.ParseDBSecret([]byte(v.SecretString)); err == nil {
				r.print(s)
				log.Debug("parsed", "secret", s, "version", v)
			}
		}
		r.print(c.Stats())
		r.print(conn.Stats())
		r.print(e.sm.LastRotationError(id))
		c.Close()
	}

	// Bad secrets: a wrong password, malformed JSON, a password of the wrong type, not JSON
	// at all. Each is read by an app and rotated by every strategy.
	user := mysqltest.UniqueName("app")
	realPW, wrongPW := newPassword(), newPassword()
	if err := my.CreateUser(ctx, user, realPW); err != nil {
		t.Fatal(err)
	}
	r.secret(realPW)
	r.secret(wrongPW)
	good, err := e.dbSecret(user, wrongPW, master).MarshalSecret()
	if err != nil {
		t.Fatal(err)
	}
	bad := []string{
		string(good), // wrong password
		string(good[:len(good)-3]),
		strings.Replace(string(good), `"password":"`+wrongPW+`"`, `"password":["`+wrongPW+`"]`, 1),
		strings.Replace(string(good), `"username":"`+user+`"`, `"username":"`+wrongPW+`x`, 1), // the password in a syntax error
		"mysql://" + user + ":" + wrongPW + "@localhost/",
		`{"engine":"mysql","username":"` + user + `","password":` + `1` + strings.Repeat("7", 30) + `}`,
	}
	r.secret("1" + strings.Repeat("7", 30))
	for i, value := range bad {
		r.secret(value)
		id := e.createSecret(value)
		c := cache.New(e.api, cache.WithLogger(log))
		conn := sqlconn.NewMySQL(c, id, sqlconn.WithLogger(log), sqlconn.WithRetry(policy))
		db := openDB(t, sql.OpenDB(conn))
		pctx, cancel := context.WithTimeout(ctx, hangGuard)
		if err := r.call(func() error { return db.PingContext(pctx) }); err == nil {
			t.Errorf("bad secret %d: ping succeeded", i)
		}
		cancel()
		for _, sc := range myScenarios {
			h := sc.handler(nil, rotate.WithLogger(log))
			if err := r.call(func() error { _, err := rotate.Rotate(ctx, e.api, id, h); return err }); err == nil {
				t.Errorf("bad secret %d: %s rotation succeeded", i, sc.name)
			}
		}
		r.print(conn.Stats())
		c.Close()
	}

	// Every value every secret ever held, and the hash of every password.
	for _, id := range append([]string{master}, ids...) {
		for _, v := range e.sm.Versions(id) {
			if !v.HasValue {
				continue
			}
			out, err := e.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionId: aws.String(v.ID)})
			if err != nil {
				t.Fatal(err)
			}
			ver := rotasafe.NewVersion(out)
			r.print(ver)
			r.secret(ver.SecretString)
			if s, err := rotasafe.ParseDBSecret([]byte(ver.SecretString)); err == nil {
				r.secret(s.Password)
				r.print(s)
			}
		}
	}
	for s := range r.secrets {
		hashes[mysqltest.NativePasswordHash(s)] = true
	}

	generalLog, err := my.ReadGeneralLog()
	if err != nil {
		t.Fatal(err)
	}
	errorLog, err := my.ReadErrorLog()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SET PASSWORD = '*", "ALTER USER"} {
		if !strings.Contains(generalLog, want) {
			t.Fatalf("the general log shows no %s: is it on?", want)
		}
	}
	haystacks := map[string]string{"log lines": logs.String(), "general log": generalLog, "error log": errorLog, "errors, panics and printed values": r.hay.String()}
	hits := 0
	for s := range r.secrets {
		for _, n := range needles(s) {
			for where, hay := range haystacks {
				if strings.Contains(hay, n) {
					hits++
					i := strings.Index(hay, n)
					t.Errorf("a secret (%d bytes, as %d-byte form) leaked into the %s near: %.80q", len(s), len(n), where, hay[max(0, i-80):i])
				}
			}
		}
	}
	for h := range hashes {
		for where, hay := range haystacks {
			if where != "general log" && strings.Contains(hay, h) {
				hits++
				t.Errorf("a password hash leaked into the %s", where)
			}
		}
	}
	t.Logf("secrets %d (x7 forms), hashes %d; log bytes %d, general log bytes %d, errors %d, panics %d, printed bytes %d; hits %d",
		len(r.secrets), len(hashes), len(haystacks["log lines"]), len(generalLog), r.errs, r.panics, r.hay.Len(), hits)
}
