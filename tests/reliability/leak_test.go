//lint:file-ignore SA1019 rotate.Rotate, deprecated for Handler.Rotate, stays callable; these callers drive one Handler through the API of their test server.

package reliability

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/retry"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/smtest"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// recorder collects everything a leak could hide in: error strings, panic values, printed
// values, and the secret values (needles) to look for.
type recorder struct {
	mu      sync.Mutex
	hay     strings.Builder
	secrets map[string]bool
	errs    int
	panics  int
}

// secret adds a value that must never be printed.
func (r *recorder) secret(s string) {
	if s == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets == nil {
		r.secrets = map[string]bool{}
	}
	r.secrets[s] = true
}

// print adds v under every fmt verb, and its error chain's StepError, ConnectError,
// RotationError and SecretFormatError under theirs.
func (r *recorder) print(v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hay.WriteString(formats(v))
	if err, ok := v.(error); ok && err != nil {
		r.errs++
		r.hay.WriteString(err.Error() + "\n")
		if e, ok := errors.AsType[*rotate.StepError](err); ok {
			r.hay.WriteString(formats(e) + formats(*e))
		}
		if e, ok := errors.AsType[*rotasafe.ConnectError](err); ok {
			r.hay.WriteString(formats(e) + formats(e.Attempts))
		}
		if e, ok := errors.AsType[*smtest.RotationError](err); ok {
			r.hay.WriteString(formats(e) + formats(*e))
		}
		if e, ok := errors.AsType[*rotasafe.SecretFormatError](err); ok {
			r.hay.WriteString(formats(e) + formats(*e))
		}
	}
}

// call runs f, records its error, and recovers and records a panic.
func (r *recorder) call(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.mu.Lock()
			r.panics++
			r.mu.Unlock()
			r.print(p)
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	err = f()
	if err != nil {
		r.print(err)
	}
	return err
}

// TestNoSecretLeaks runs both PostgreSQL rotation scenarios through RotateSecret, an
// application reading through cache and sqlconn meanwhile, and every failing path that can be
// provoked (injected API faults, a stopped database, wrong passwords, malformed secrets, bad
// events); then it looks for every password, secret string and RotationToken (and their base64
// and hex forms) in every log line (debug level, JSON and text), error, panic value, printed
// value and the server log with log_statement='all'.
func TestNoSecretLeaks(t *testing.T) {
	pg := pgtest.New(t, pgtest.WithLogStatements())
	var logs testserver.Buffer
	log := debugLogger(&logs)
	e := newEnv(t, pg, smtest.WithRequestLog(log))
	r := &recorder{}
	ctx := t.Context()
	r.secret(pg.SuperPassword())
	r.print(pg)
	master := e.master()
	policy := retry.Policy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, MaxElapsed: time.Second}
	sslOff := sqlconn.WithParams(map[string]string{"sslmode": "disable"})
	var ids []string

	for _, sc := range scenarios {
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
		conn := sqlconn.NewPostgres(c, id, sqlconn.WithLogger(log), sslOff, sqlconn.WithRetry(policy))
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
		// The database is down: the app's connects and the rotation fail, then recover.
		if err := pg.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ping(); err == nil {
			t.Fatalf("%s: ping with the database stopped succeeded", sc.name)
		}
		if err := r.call(func() error { return e.rotateSecret(ctx, id, fn, "") }); err == nil {
			t.Fatalf("%s: rotation with the database stopped succeeded", sc.name)
		}
		if err := pg.Start(ctx); err != nil {
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
	// at all. Each is read by an app and rotated.
	user := pgtest.UniqueName("app")
	realPW, wrongPW := newPassword(), newPassword()
	if err := pg.CreateRole(ctx, user, realPW); err != nil {
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
		"postgres://" + user + ":" + wrongPW + "@localhost/postgres",
		`{"username":"` + user + `","password":` + `1` + strings.Repeat("7", 30) + `}`,
	}
	r.secret("1" + strings.Repeat("7", 30))
	for i, value := range bad {
		r.secret(value)
		id := e.createSecret(value)
		c := cache.New(e.api, cache.WithLogger(log))
		conn := sqlconn.NewPostgres(c, id, sqlconn.WithLogger(log), sslOff, sqlconn.WithRetry(policy))
		db := openDB(t, sql.OpenDB(conn))
		pctx, cancel := context.WithTimeout(ctx, hangGuard)
		if err := r.call(func() error { return db.PingContext(pctx) }); err == nil {
			t.Errorf("bad secret %d: ping succeeded", i)
		}
		cancel()
		r.call(func() error { _, err := rotasafe.ParseDBSecret([]byte(value)); return err })
		for _, sc := range scenarios {
			h := sc.handler(nil, rotate.WithLogger(log))
			if err := r.call(func() error { _, err := rotate.Rotate(ctx, e.api, id, h); return err }); err == nil {
				t.Errorf("bad secret %d: %s rotation succeeded", i, sc.name)
			}
		}
		r.print(conn.Stats())
		c.Close()
	}

	// Bad events, each carrying a RotationToken that must not be echoed.
	for _, data := range []string{
		`{"SecretId":"s","ClientRequestToken":"t","Step":"nope","RotationToken":"%s"}`,
		`{"SecretId":"s","ClientRequestToken":"t","Step":"createSecret","RotationToken":7,"x":"%s"}`,
		`{"SecretId":"s","Step":"createSecret","RotationToken":"%s"}`,
		`{"SecretId":"s","ClientRequestToken":"t","Step":"createSecret","RotationToken":"%s"`,
	} {
		tok := newPassword()
		r.secret(tok)
		ev, err := rotasafe.ParseEvent(fmt.Appendf(nil, data, tok))
		r.print(ev)
		if err == nil {
			t.Errorf("event %s parsed", data)
		}
		r.print(err)
		h := scenarios[0].handler(e.api, rotate.WithLogger(log))
		r.call(func() error {
			return h.Handle(ctx, rotasafe.Event{SecretID: ids[0], ClientRequestToken: "x", Step: "nope", RotationToken: tok})
		})
	}

	// Every value every secret ever held.
	all := append([]string{master}, ids...)
	for _, ver := range e.values(all...) {
		r.print(ver)
		r.secret(ver.SecretString)
		if s, err := rotasafe.ParseDBSecret([]byte(ver.SecretString)); err == nil {
			r.secret(s.Password)
			r.print(s)
		}
	}

	serverLog, err := pg.ReadLog()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(serverLog, "ALTER ROLE") {
		t.Fatalf("the server log shows no ALTER ROLE: is log_statement='all' on?")
	}
	haystacks := map[string]string{"log lines": logs.String(), "server log": serverLog, "errors, panics and printed values": r.hay.String()}
	hits := 0
	for s := range r.secrets {
		for _, n := range fixture.Needles(s) {
			for where, hay := range haystacks {
				if strings.Contains(hay, n) {
					hits++
					i := strings.Index(hay, n)
					t.Errorf("a secret (%d bytes, as %d-byte form) leaked into the %s near: %.80q", len(s), len(n), where, hay[max(0, i-80):i])
				}
			}
		}
	}
	t.Logf("secrets %d (x7 forms); log bytes %d, server log bytes %d, errors %d, panics %d, printed bytes %d; hits %d",
		len(r.secrets), len(haystacks["log lines"]), len(serverLog), r.errs, r.panics, r.hay.Len(), hits)
}

// TestNeedlesFindPlantedLeaks checks the detector itself: a secret planted in base64 or hex
// inside a log line is found.
func TestNeedlesFindPlantedLeaks(t *testing.T) {
	secret := newPassword()
	for i, n := range fixture.Needles(secret) {
		hay := "level=DEBUG msg=x value=" + n + " end"
		found := false
		for _, m := range fixture.Needles(secret) {
			found = found || strings.Contains(hay, m)
		}
		if !found {
			t.Errorf("form %d of a secret planted in a log line was not found", i)
		}
	}
	if got := len(fixture.Needles(secret)); got != 7 {
		t.Errorf("got %d forms, want 7", got)
	}
}

// printingStrategy prints the StepContext (which holds the AWSCURRENT and AWSPENDING
// versions) of every step under every verb before the strategy runs it.
type printingStrategy struct {
	rotate.Strategy
	r *recorder
}

func (p printingStrategy) Create(ctx context.Context, sc *rotate.StepContext) (string, error) {
	p.r.print(sc)
	p.r.print(*sc)
	return p.Strategy.Create(ctx, sc)
}

func (p printingStrategy) Set(ctx context.Context, sc *rotate.StepContext) error {
	p.r.print(sc)
	p.r.print(*sc)
	return p.Strategy.Set(ctx, sc)
}

func (p printingStrategy) Test(ctx context.Context, sc *rotate.StepContext) error {
	p.r.print(sc)
	p.r.print(*sc)
	return p.Strategy.Test(ctx, sc)
}
