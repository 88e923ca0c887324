package sqlconn_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/internal/testserver/secretenv"
	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/retry"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// shortRetry gives up on a connect after about d.
func shortRetry(d time.Duration) sqlconn.Option {
	p := login.DefaultPolicy()
	p.Initial, p.Max, p.MaxElapsed = 10*time.Millisecond, 100*time.Millisecond, d
	return sqlconn.WithRetry(p)
}

// statsDelta is what changed in a Connector's counters.
func statsDelta(a, b rotasafe.LoginStats) rotasafe.LoginStats {
	sub := func(x, y rotasafe.StageCounts) rotasafe.StageCounts {
		return rotasafe.StageCounts{Current: y.Current - x.Current, Pending: y.Pending - x.Pending, Previous: y.Previous - x.Previous, Other: y.Other - x.Other}
	}
	return rotasafe.LoginStats{
		Connects: b.Connects - a.Connects, Failures: b.Failures - a.Failures, Logins: b.Logins - a.Logins,
		Rejected: sub(a.Rejected, b.Rejected), Fallbacks: sub(a.Fallbacks, b.Fallbacks),
		Rereads: sub(a.Rereads, b.Rereads), Retries: b.Retries - a.Retries,
	}
}

// TestConnectFallbackIsSticky walks one rotation step by step: once AWSPENDING has worked,
// later connects use it directly instead of failing with AWSCURRENT first.
func TestConnectFallbackIsSticky(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.connector(t)
	ctx := t.Context()

	type step struct {
		name string
		do   func() error
		want rotasafe.LoginStats // change in counters made by one connect after do
	}
	var pendingID string
	pw := secretenv.NewPassword()
	steps := []step{
		{"before the rotation", nil, rotasafe.LoginStats{Connects: 1, Logins: 1}},
		{"pending stored", func() (err error) { pendingID, err = e.PutPending(ctx, pw); return err }, rotasafe.LoginStats{Connects: 1, Logins: 1}},
		{
			"password changed, AWSCURRENT rejected, AWSPENDING works", func() error { return e.AlterPassword(ctx, pw) },
			rotasafe.LoginStats{Connects: 1, Logins: 2, Rejected: rotasafe.StageCounts{Current: 1},
				Fallbacks: rotasafe.StageCounts{Pending: 1}, Rereads: rotasafe.StageCounts{Pending: 1}},
		},
		{"AWSPENDING is kept", nil, rotasafe.LoginStats{Connects: 1, Logins: 1}},
		{"promoted", func() error { return e.Promote(ctx, pendingID) }, rotasafe.LoginStats{Connects: 1, Logins: 1}},
	}
	for _, s := range steps {
		if s.do != nil {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		before := c.Stats()
		mustConnect(t, c)
		if got := statsDelta(before, c.Stats()); got != s.want {
			t.Errorf("%s: stats changed by %+v, want %+v", s.name, got, s.want)
		}
	}
}

func TestConnectWrongCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	secretPW := e.Current()
	dbPW := secretenv.NewPassword()
	if err := e.AlterPassword(t.Context(), dbPW); err != nil { // no label holds this one
		t.Fatal(err)
	}
	var currentID string
	for id, stages := range e.SM.Stages(e.SecretID) {
		if slices.Contains(stages, rotasafe.StageCurrent) {
			currentID = id
		}
	}

	check := func(t *testing.T, err error) *rotasafe.ConnectError {
		t.Helper()
		ce, ok := errors.AsType[*rotasafe.ConnectError](err)
		if !ok {
			t.Fatalf("got %T %v, want a *rotasafe.ConnectError", err, err)
		}
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != "28P01" {
			t.Errorf("errors.As(*pgconn.PgError) = %v, %v; want SQLSTATE 28P01", pgErr, ok)
		}
		msg := err.Error()
		for _, want := range []string{e.SecretID, currentID, "auth"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not mention %q", msg, want)
			}
		}
		printed := fmt.Sprintf("%v|%+v|%#v|%s|%q", err, err, err, err, err)
		for _, a := range ce.Attempts {
			printed += fmt.Sprintf("|%v|%+v|%#v", a.Err, a.Err, a)
		}
		if strings.Contains(printed, secretPW) || strings.Contains(printed, dbPW) {
			t.Fatalf("a password appears in the printed error")
		}
		if ce.Total == 0 || len(ce.Attempts) == 0 || ce.Attempts[0].VersionID != currentID || ce.Attempts[0].Class != rotasafe.ClassAuth {
			t.Errorf("attempts %+v (total %d), want auth failures of version %s first", ce.Attempts, ce.Total, currentID)
		}
		return ce
	}

	t.Run("default policy bounds a context without deadline", func(t *testing.T) {
		t.Parallel()
		c := e.connector(t)
		_, err := c.Connect(context.Background())
		check(t, err)
		// Either the retry loop or the gate, whichever sees MaxElapsed run out first, ends it.
		if _, ok := errors.AsType[*retry.ExhaustedError](err); !ok && !strings.Contains(err.Error(), "MaxElapsed ran out") {
			t.Errorf("got %v, want a *retry.ExhaustedError inside or MaxElapsed named", err)
		}
		if st := c.Stats(); st.Retries == 0 || st.Failures != 1 {
			t.Errorf("stats %+v, want retries and one failure", st)
		}
	})
	t.Run("context deadline ends the retries", func(t *testing.T) {
		t.Parallel()
		c := e.connector(t)
		// Long enough for a few logins on this machine, whatever its speed: a multiple of
		// one rejected login timed here.
		start := time.Now()
		if _, err := e.connector(t, sqlconn.WithRetry(retry.Policy{MaxAttempts: 1})).Connect(t.Context()); err == nil {
			t.Fatal("connect with wrong credentials succeeded")
		}
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Since(start)+300*time.Millisecond)
		defer cancel()
		_, err := c.Connect(ctx)
		check(t, err)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want it to match context.DeadlineExceeded", err)
		}
	})
	t.Run("MaxAttempts bounds the rounds", func(t *testing.T) {
		t.Parallel()
		c := e.connector(t, sqlconn.WithRetry(retry.Policy{Initial: time.Millisecond, MaxAttempts: 2}))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err := c.Connect(ctx)
		check(t, err)
		if st := c.Stats(); st.Logins != 2 {
			t.Errorf("%d logins, want 2 (two rounds of one version)", st.Logins)
		}
	})
	t.Run("sql.DB error", func(t *testing.T) {
		t.Parallel()
		db := openDB(t, e.connector(t, shortRetry(200*time.Millisecond)))
		err := db.PingContext(t.Context())
		check(t, err)
	})
}

// TestWrongCredentialsAPICalls: however many connects fail with credentials that no label
// fixes, the cache reads each label at most once per its minimum interval.
func TestWrongCredentialsAPICalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	// The cache looks for the absent AWSPENDING and AWSPREVIOUS once per NegativeTTL; make
	// that long so that only forced refreshes count.
	e.CacheOptions = []cache.Option{cache.WithNegativeTTL(time.Minute)}
	if err := e.AlterPassword(t.Context(), secretenv.NewPassword()); err != nil {
		t.Fatal(err)
	}
	c := e.connector(t, shortRetry(150*time.Millisecond))
	if _, err := c.Connect(t.Context()); err == nil { // warm the cache
		t.Fatal("connect with wrong credentials succeeded")
	}
	e.SM.ResetCalls()
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Since(start) < 1200*time.Millisecond {
				if _, err := c.Connect(t.Context()); err == nil {
					t.Error("connect with wrong credentials succeeded")
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	calls := e.SM.Calls("GetSecretValue") + e.SM.Calls("DescribeSecret")
	// Each rejected round may read AWSPENDING, AWSCURRENT and AWSPREVIOUS, each once per
	// interval: the bound grows with the time the run took, never with the number of connects.
	limit := 3 * (int(elapsed/secretenv.MinRefreshInterval) + 1)
	t.Logf("%v: %d connects failed, %d logins, %d GetSecretValue calls (limit %d)", elapsed.Round(time.Millisecond), c.Stats().Failures, c.Stats().Logins, e.SM.Calls("GetSecretValue"), limit)
	if calls > limit {
		t.Errorf("%d GetSecretValue+DescribeSecret calls in %v, want at most %d (one per label per %v)", calls, elapsed, limit, secretenv.MinRefreshInterval)
	}
	// After the first burst (one round per goroutine) the gate lets one round through per
	// wait, and its waits are at least half their ceiling: 5, 10, 20, 40ms, then 50ms on
	// (shortRetry's Initial 10ms, Max 100ms). Each round is one login here (the secret has a
	// single version). Without the gate every failed connect would log in at once.
	if logins, max := c.Stats().Logins, int64(8+4+elapsed/(50*time.Millisecond)+2); logins > max {
		t.Errorf("%d logins in %v, want at most %d", logins, elapsed, max)
	}
	if c.Stats().Withheld == 0 {
		t.Errorf("no connect was withheld by the gate")
	}
}

func TestConnectOtherErrorFailsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.connector(t, sqlconn.WithParams(map[string]string{"dbname": pgtest.UniqueName("nosuchdb")}))
	_, err := c.Connect(t.Context())
	ce, ok := errors.AsType[*rotasafe.ConnectError](err)
	if !ok {
		t.Fatalf("got %v, want a *rotasafe.ConnectError", err)
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != "3D000" {
		t.Errorf("got %v, want SQLSTATE 3D000", err)
	}
	if ce.Total != 1 || c.Stats().Retries != 0 {
		t.Errorf("%d logins and %d retries, want 1 and 0", ce.Total, c.Stats().Retries)
	}
}

func TestConnectMalformedSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const leak = "do-not-print-me"
	if _, err := e.API.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String(e.SecretID),
		SecretString: aws.String(`{"host":"127.0.0.1","username":"app","password":` + `["` + leak + `"]}`),
	}); err != nil {
		t.Fatal(err)
	}
	c := e.connector(t)
	_, err := c.Connect(t.Context())
	if !errors.Is(err, rotasafe.ErrSecretFormat) {
		t.Fatalf("got %v, want rotasafe.ErrSecretFormat", err)
	}
	if msg := fmt.Sprintf("%+v", err); strings.Contains(msg, leak) || !strings.Contains(msg, `"password"`) {
		t.Errorf("error %q: want the field named and its value left out", msg)
	}
	if st := c.Stats(); st.Logins != 0 || st.Retries != 0 {
		t.Errorf("stats %+v, want no login and no retry", st)
	}
}

func TestConnectWithoutFallback(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	pw := secretenv.NewPassword()
	if _, err := e.PutPending(ctx, pw); err != nil {
		t.Fatal(err)
	}
	if err := e.AlterPassword(ctx, pw); err != nil {
		t.Fatal(err)
	}
	off := e.connector(t, sqlconn.WithoutFallback(), shortRetry(200*time.Millisecond))
	if _, err := off.Connect(ctx); err == nil {
		t.Error("WithoutFallback: connect in the middle of a rotation succeeded, want it to fail")
	}
	if st := off.Stats(); st.Fallbacks.Total() != 0 {
		t.Errorf("WithoutFallback: %d fallbacks", st.Fallbacks)
	}
	on := e.connector(t)
	mustConnect(t, on)
	if st := on.Stats(); st.Fallbacks.Total() != 1 {
		t.Errorf("with fallback: stats %+v, want one fallback", st)
	}
}

// TestConnectThroughRestart: a connect that starts while the database is down succeeds
// once it is back, after retries with backoff.
func TestConnectThroughRestart(t *testing.T) {
	t.Parallel()
	pg := pgtest.New(t)
	if pg.External() {
		t.Skip("needs a server pgtest can stop")
	}
	e := newEnv(t, pg)
	p := login.DefaultPolicy()
	p.MaxElapsed = 30 * time.Second
	c := e.connector(t, sqlconn.WithRetry(p))
	mustConnect(t, c)
	if err := pg.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	logins := c.Stats().Logins
	go func() {
		dc, err := c.Connect(t.Context())
		if err == nil {
			dc.Close()
		}
		done <- err
	}()
	// Restart once the connect has failed at least once, however long that took.
	for c.Stats().Logins == logins {
		time.Sleep(10 * time.Millisecond)
	}
	if err := pg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("connect across a restart: %v", err)
	}
	if st := c.Stats(); st.Retries == 0 || st.Rejected.Total() != 0 {
		t.Errorf("stats %+v, want retries and no auth failure", st)
	}
}

func TestConnectorDriver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	if got := e.connector(t).Driver(); got != stdlib.GetDefaultDriver() {
		t.Errorf("Driver() = %T, want pgx's stdlib driver", got)
	}
}

// countingDriver is Postgres counting the connectors it builds.
type countingDriver struct {
	sqlconn.Postgres
	built atomic.Int64
}

func (d *countingDriver) Connector(s rotasafe.DBSecret, params map[string]string) (driver.Connector, error) {
	d.built.Add(1)
	return d.Postgres.Connector(s, params)
}

// TestConnectBuildsOncePerVersion: the secret is parsed and the driver connector built once
// per version, not per connect.
func TestConnectBuildsOncePerVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ca := e.NewCache(t)
	d := &countingDriver{}
	c := sqlconn.New(ca, e.SecretID, d, sqlconn.WithParams(map[string]string{"sslmode": "disable"}))
	for range 10 {
		mustConnect(t, c)
	}
	if err := e.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		mustConnect(t, c)
	}
	if got := d.built.Load(); got != 2 {
		t.Errorf("driver connectors built for 2 versions and 20 connects: %d, want 2", got)
	}
}

// TestConnectTooManyConnections: 53300 is transient; the connect succeeds once a slot frees.
func TestConnectTooManyConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	if _, err := e.Super.Exec(ctx, "ALTER ROLE "+pgx.Identifier{e.User}.Sanitize()+" CONNECTION LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	c := e.connector(t)
	held, err := c.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Free the slot once the second connect has been refused at least once.
	logins := c.Stats().Logins
	go func() {
		for c.Stats().Logins == logins {
			time.Sleep(10 * time.Millisecond)
		}
		held.Close()
	}()
	second, err := c.Connect(ctx)
	if err != nil {
		t.Fatalf("connect while the role's only slot is taken, then freed: %v", err)
	}
	second.Close()
	if st := c.Stats(); st.Retries == 0 || st.Rejected.Total() != 0 {
		t.Errorf("stats %+v, want retries and no auth failure", st)
	}
}
