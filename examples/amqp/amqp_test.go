package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/internal/testserver/rabbittest"
	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/rabbitmq"
	"github.com/rotasafe/rotasafe/smtest"
)

// hang bounds each wait for an event; only a hang reaches it.
const hang = 3 * time.Minute

// TestThroughRotations runs the publisher and the consumer against a real RabbitMQ node
// while rotate/rabbitmq's alternating-users strategy rotates their secret ten times (three
// with -short) through smtest, and the broker closes their connections (DELETE /api/connections/{name}) after
// every rotation. Nothing may reach the application as an error, every message published
// must be handled exactly once, and no password may appear in a log line; the refused
// logins are counted.
//
// Between two rotations the application's cache reads AWSCURRENT at least once, as a
// process whose cache TTL (1 h by default) is shorter than the rotation interval does.
func TestThroughRotations(t *testing.T) {
	rs := rabbittest.New(t)
	sm := smtest.New(t)
	api := sm.Client()
	ctx := t.Context()
	// Every log line of the run (rotation handler, caches, walkers, the example) goes to a
	// file, read at the end; a file needs no lock against the cache's background logging.
	logPath := filepath.Join(t.TempDir(), "log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	logger := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))

	user, pw := "app-"+rand.Text()[:8], rand.Text()
	if err := rs.CreateUser(ctx, user, pw); err != nil {
		t.Fatal(err)
	}
	admin := newSecret(t, api, rs, rs.AdminUser, rs.AdminPassword, "")
	id := newSecret(t, api, rs, user, pw, admin)
	passwords := []string{pw, rs.AdminPassword} // every password the run makes, to look for in logs
	fn := "arn:aws:lambda:us-east-1:123456789012:function:rotate-rabbitmq"
	sm.RegisterRotationFunc(fn, rotate.NewHandler(api, rabbitmq.Strategy(), rotate.WithLogger(logger)).Handle)

	// A wrong password is a refusal the walker counts, not an error of another kind: what the
	// count below measures.
	wrongPW := "wrong-" + rand.Text()
	passwords = append(passwords, wrongPW)
	wrong := newSecret(t, api, rs, user, wrongPW, "")
	wrongCache := cache.New(api, cache.WithLogger(logger))
	t.Cleanup(func() { wrongCache.Close() })
	policy := login.DefaultPolicy()
	policy.MaxAttempts = 1 // give up after the first round of refusals
	refusing := &dialer{walker: login.New(wrongCache, wrong, login.WithRetry(policy), login.WithLogger(logger)), logger: logger}
	start := time.Now()
	if _, err := refusing.open(ctx, "amqp-example refused", topology{}.declare); err == nil {
		t.Fatal("a login with a wrong password worked")
	} else if st := refusing.walker.Stats(); st.Rejected.Total() == 0 {
		t.Fatalf("a login with a wrong password: %d logins refused, want at least 1 (error: %v)", st.Rejected.Total(), err)
	} else {
		t.Logf("a wrong password: %d logins refused in %v, then %v", st.Rejected.Total(), time.Since(start).Round(time.Millisecond), err)
	}

	secrets := cache.New(api, cache.WithTTL(100*time.Millisecond), cache.WithLogger(logger))
	t.Cleanup(func() { secrets.Close() })
	d := &dialer{walker: login.New(secrets, id, login.WithClient("amqp-example"), login.WithLogger(logger)), logger: logger}
	top := topology{exchange: "app.test", queue: "app.test", key: "app.test"}
	pub := newPublisher(d, "amqp-example publisher", top, 100)
	cons := newConsumer(d, "amqp-example consumer", top, 50, 100_000)

	// The application: a consumer that counts what it handles, a publisher that publishes
	// until told to stop and then flushes.
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	var (
		mu        sync.Mutex
		handled   = map[string]int{} // guarded by mu
		published atomic.Int64       // messages Publish returned for, m0 up to m(published-1)
		stopPub   atomic.Bool
		appErrs   []error // guarded by mu
		wg        sync.WaitGroup
	)
	fail := func(what string, err error) {
		mu.Lock()
		appErrs = append(appErrs, fmt.Errorf("%s: %w", what, err))
		mu.Unlock()
	}
	wg.Go(func() {
		err := cons.Run(appCtx, func(_ context.Context, m amqp.Delivery) error {
			mu.Lock()
			handled[m.MessageId]++
			mu.Unlock()
			return nil
		})
		if err != nil {
			fail("consumer", err)
		}
	})
	wg.Go(func() {
		defer pub.Close()
		for i := 0; !stopPub.Load(); i++ {
			if err := pub.Publish(appCtx, fmt.Sprintf("m%d", i), fmt.Appendf(nil, "message %d", i)); err != nil {
				fail("publish", err)
				return
			}
			published.Add(1)
			time.Sleep(time.Millisecond) // a steady stream, not a flood: the machine is shared
		}
		if err := pub.Flush(appCtx); err != nil {
			fail("flush", err)
		}
	})
	appFailed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(appErrs) > 0
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(hang); !cond(); time.Sleep(10 * time.Millisecond) {
			if appFailed() || time.Now().After(deadline) {
				stopApp()
				wg.Wait()
				t.Fatalf("waiting for %s: application errors %v", what, appErrs)
			}
		}
	}

	// Each rotation waits 2-5 s for the management API to list the new connections before
	// the broker closes them: 4 rotations by default (2 with -short) show the clients ride
	// through rotation after rotation without making this the suite's longest package; CI
	// runs 12 (ROTASAFE_RELIABILITY_N=full).
	rotations := fixture.Count(t, 12, 4)
	if testing.Short() {
		rotations = 2
	}
	drops := 0
	for r := 1; r <= rotations; r++ {
		before := published.Load()
		out, err := api.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(id), RotationLambdaARN: aws.String(fn)})
		if err != nil {
			t.Fatal(err)
		}
		if err := sm.LastRotationError(id); err != nil {
			t.Fatalf("rotation %d: %v", r, err)
		}
		cur, err := rotasafe.Fetch(ctx, api, id, "", rotasafe.StageCurrent)
		if err != nil || cur.ID != aws.ToString(out.VersionId) {
			t.Fatalf("rotation %d: AWSCURRENT is %s (%v), want %s", r, cur.ID, err, aws.ToString(out.VersionId))
		}
		s, err := rotasafe.ParseDBSecret([]byte(cur.SecretString))
		if err != nil {
			t.Fatal(err)
		}
		passwords = append(passwords, s.Password)

		// The broker closes both connections; both clients must come back.
		pc, cc := pub.connects.Load(), cons.connects.Load()
		drops += dropConnections(t, rs, "amqp-example publisher", "amqp-example consumer")
		waitFor("the publisher to reconnect", func() bool { return pub.connects.Load() > pc })
		waitFor("the consumer to reconnect", func() bool { return cons.connects.Load() > cc })
		waitFor("messages published after the rotation", func() bool { return published.Load() > before+10 })
		waitFor("the cache to read the new AWSCURRENT", func() bool {
			v, err := secrets.Get(ctx, id)
			return err == nil && v.ID == cur.ID
		})
	}
	last := published.Load()
	waitFor("a message published after the last rotation", func() bool { return published.Load() > last })
	stopPub.Store(true)
	waitFor("every published message to be consumed", func() bool {
		n := published.Load()
		mu.Lock()
		defer mu.Unlock()
		for i := range n {
			if handled[fmt.Sprintf("m%d", i)] == 0 {
				return false
			}
		}
		return true
	})
	stopApp()
	wg.Wait()

	if len(appErrs) > 0 {
		t.Errorf("errors surfaced to the application: got %v, want none", appErrs)
	}
	n := published.Load()
	var twice []string
	for id, k := range handled {
		if k != 1 {
			twice = append(twice, fmt.Sprintf("%s x%d", id, k))
		}
		var i int64
		if _, err := fmt.Sscanf(id, "m%d", &i); err != nil || i >= n {
			t.Errorf("handled message %q that was never published", id)
		}
	}
	if len(twice) > 0 {
		slices.Sort(twice)
		t.Errorf("messages handled more than once after de-duplication: %v", twice)
	}
	if int64(len(handled)) != n {
		t.Errorf("messages handled: got %d, want %d", len(handled), n)
	}
	logBytes, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	logs := string(logBytes)
	for i, p := range passwords {
		if strings.Contains(logs, p) {
			t.Errorf("password %d of %d is in a log line", i, len(passwords))
		}
		for _, e := range appErrs {
			if strings.Contains(e.Error(), p) {
				t.Errorf("password %d of %d is in an error", i, len(passwords))
			}
		}
	}
	if brokerLog, err := rs.ReadLog(); err != nil {
		t.Error(err)
	} else if slices.ContainsFunc(passwords, func(p string) bool { return strings.Contains(brokerLog, p) }) {
		t.Error("a password is in the broker's log")
	}
	st := d.walker.Stats()
	t.Logf("%d rotations, %d connections closed by the broker; %d messages published, %d handled once each, %d copies dropped by message ID, %d republished after a lost confirm",
		rotations, drops, n, len(handled), cons.duplicates.Load(), pub.republished.Load())
	t.Logf("logins: %d attempts, %d refused, %d connections (%d reconnects: publisher %d, consumer %d), fallbacks %+v, retries %d",
		st.Logins, st.Rejected.Total(), st.Connects, st.Connects-2, pub.connects.Load()-1, cons.connects.Load()-1, st.Fallbacks, st.Retries)
	if !strings.Contains(logs, "CONNECTION_FORCED") {
		t.Error("no log line says the broker closed a connection (CONNECTION_FORCED)")
	}
}

// dropConnections has the broker close the open connections with the given client-provided
// names, as an operator does with DELETE /api/connections/{name}. The management API lists
// a connection only after its first statistics (up to 5 s), so it waits until every name is
// listed; it returns how many connections it closed.
func dropConnections(t *testing.T, rs *rabbittest.Server, names ...string) int {
	t.Helper()
	ctx := t.Context()
	for deadline := time.Now().Add(hang); ; time.Sleep(100 * time.Millisecond) {
		var conns []struct {
			Name  string `json:"name"`
			State string `json:"state"`
			Props struct {
				Name string `json:"connection_name"`
			} `json:"client_properties"`
		}
		if err := rs.Do(ctx, http.MethodGet, "/api/connections", nil, &conns); err != nil {
			t.Fatal(err)
		}
		var found []string
		for _, c := range conns {
			if slices.Contains(names, c.Props.Name) && !slices.Contains(found, c.Name) {
				found = append(found, c.Name)
			}
		}
		if len(found) >= len(names) {
			for _, name := range found {
				err := rs.Do(ctx, http.MethodDelete, "/api/connections/"+url.PathEscape(name), nil, nil)
				if err != nil && !strings.Contains(err.Error(), "404") {
					t.Fatal(err)
				}
			}
			return len(found)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the management API lists %d of the connections %q", len(found), names)
		}
	}
}

// newSecret stores the secret of a user on the node and returns its ARN.
func newSecret(t *testing.T, api *secretsmanager.Client, rs *rabbittest.Server, user, pw, masterARN string) string {
	t.Helper()
	m := map[string]any{"engine": "rabbitmq", "host": rs.Host, "port": rs.AMQPPort, "management_url": rs.MgmtURL, "username": user, "password": pw}
	if masterARN != "" {
		m["masterarn"] = masterARN
	}
	b, _ := json.Marshal(m)
	out, err := api.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("rabbitmq/" + user + "/" + rand.Text()[:6]), SecretString: aws.String(string(b))})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}
