package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/internal/testserver/redistest"
)

// runDemo runs the demo with cfg until u stops it, its status written to a buffer it
// returns, and checks the run as u says. Without the servers' binaries it skips t (fails it
// under ROTASAFE_REQUIRE_INTEGRATION=1); any other error fails t.
func runDemo(t *testing.T, cfg config, u *until) (summary, string) {
	t.Helper()
	cfg.stop = u.stop
	var out bytes.Buffer
	sum, err := run(t.Context(), cfg, newStatus(&out, false))
	testserver.SkipOrFail(t, err)
	u.check(t, sum, out.String())
	return sum, out.String()
}

// hangGuard bounds a demo run in the tests. It is no speed goal: a run stops as soon as it
// has done what the test waits for, and only a run that hangs meets this bound.
const hangGuard = 5 * time.Minute

// until is a config.stop that ends a run on events, not after a time, so that a slow or
// loaded machine passes as a fast one does: once the run has done rotations rotations, the
// application has finished a login after the last of them and logged in more often than the
// password was rotated, and (with rejected) the database has rejected one of its logins.
// Any error ends the run at once.
type until struct {
	rotations int
	rejected  bool  // also wait for a rejected login: a rotation changed the password the app held
	loginsAt  int64 // the application's logins when the run reached rotations; -1 before
}

func newUntil(rotations int) *until { return &until{rotations: rotations, loginsAt: -1} }

func (u *until) stop(p progress) bool {
	if p.AppErrors > 0 || p.RotationErrors > 0 {
		return true
	}
	if p.Rotations < uint64(u.rotations) {
		return false
	}
	if u.loginsAt < 0 {
		u.loginsAt = p.Logins
	}
	return (!u.rejected || p.RejectedLogins > 0) && p.Logins > u.loginsAt && p.Logins > int64(p.Rotations)
}

// check fails t unless the run ended as u waits for, without error: a run that ends otherwise
// met its hang guard.
func (u *until) check(t *testing.T, sum summary, out string) {
	t.Helper()
	if sum.AppErrors != 0 || sum.RotationErrors != 0 {
		t.Fatalf("got %d app errors and %d failed rotations, want none; output:\n%s", sum.AppErrors, sum.RotationErrors, out)
	}
	if sum.Rotations < uint64(u.rotations) || u.loginsAt < 0 || sum.Logins <= u.loginsAt || sum.Logins <= int64(sum.Rotations) || (u.rejected && sum.RejectedLogins == 0) {
		want := fmt.Sprintf("%d rotations, a login after them, more logins than rotations", u.rotations)
		if u.rejected {
			want += ", a rejected login"
		}
		t.Fatalf("the run met its %s hang guard after %d rotations, %d queries and %d logins (%d rejected); want %s; output:\n%s",
			hangGuard, sum.Rotations, sum.Queries, sum.Logins, sum.RejectedLogins, want, out)
	}
}

// The demo's main loop until it has rotated the password 5 times: no error reaches the
// application, the workers really log in (more logins than rotations, one after the last),
// with one user and one password a rotation rejected a password the application held, and
// the output piped to a buffer holds clean lines.
func TestDemoRidesThroughRotations(t *testing.T) {
	for _, strategy := range []string{"single", "alternating"} {
		t.Run(strategy, func(t *testing.T) {
			u := newUntil(5)
			u.rejected = strategy == "single"
			cfg := config{duration: hangGuard, rotateEvery: 300 * time.Millisecond, workers: 6, strategy: strategy}
			sum, out := runDemo(t, cfg, u)
			if sum.Queries == 0 {
				t.Errorf("got no query in %d rotations", sum.Rotations)
			}
			if strings.ContainsAny(out, "\r\033") {
				t.Errorf("non-terminal output holds control characters: %q", out)
			}
			if n := strings.Count(out, "\nrotation "); n < int(sum.Rotations) {
				t.Errorf("got %d rotation lines for %d rotations", n, sum.Rotations)
			}
			t.Logf("%d rotations, %d queries, %d logins (%d rejected), time to recover p50 %.1f ms, max %.1f ms, in %.1f s",
				sum.Rotations, sum.Queries, sum.Logins, sum.RejectedLogins, sum.RecoverP50Millis, sum.RecoverMaxMillis, sum.Seconds)
		})
	}
}

// realMain runs the demo for -duration and prints the summary as JSON on stdout. How many
// rotations fit in the duration depends on the machine; TestDemoRidesThroughRotations
// counts them. This test checks the exit status and the summary's shape.
func TestRealMainExitStatusAndJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := realMain([]string{"-duration", "1500ms", "-rotate-every", "400ms", "-workers", "2", "-json"}, &stdout, &stderr)
	if code == exitSetup && strings.Contains(stderr.String(), "binaries not found") {
		testserver.SkipOrFail(t, pgtest.ErrBinariesNotFound)
	}
	if code != exitOK {
		t.Fatalf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
	}
	var sum summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, stdout.String())
	}
	if sum.Strategy != "single" || sum.Workers != 2 || sum.Seconds <= 0 || sum.AppErrors != 0 || sum.RotationErrors != 0 {
		t.Errorf("summary = %+v, want strategy single, 2 workers, a duration and no errors", sum)
	}
	var fields map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rotations", "queries", "app_errors", "logins", "rejected_logins", "recover_p50_ms"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("the JSON summary has no %q: %s", k, stdout.String())
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-strategy", "triple"}, `-strategy must be single or alternating, not "triple"`},
		{[]string{"-workers", "0"}, "-workers must be at least 1"},
		{[]string{"-duration", "-1s"}, "-duration must be positive"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := realMain(tt.args, &stdout, &stderr); code != exitSetup {
			t.Errorf("%v: exit %d, want %d", tt.args, code, exitSetup)
		}
		if !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: stderr %q, want it to say %q", tt.args, stderr.String(), tt.want)
		}
	}
}

// Without server binaries and without -pg-url, the demo says what to install and exits 2.
func TestNoPostgreSQLSaysWhatToInstall(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	err := fmt.Errorf("start: %w", pgtest.ErrBinariesNotFound)
	if code := setupFailed(&stderr, err); code != exitSetup {
		t.Errorf("exit %d, want %d", code, exitSetup)
	}
	for _, want := range []string{"apt-get install postgresql", "-pg-url"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q does not mention %q", stderr.String(), want)
		}
	}
}

// With -notices redis the rotator announces through a throw-away redis-server and the
// application's cache listens: still no error reaches the application.
func TestDemoWithNotices(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		testserver.SkipOrFail(t, redistest.ErrNotInstalled)
	}
	// One rotation a second: the cache reads for notices at most one version a second per
	// secret after a burst of three (MinRefreshInterval).
	// The run ends after 3 rotations (see until), not after a time.
	u := newUntil(3)
	cfg := config{duration: hangGuard, rotateEvery: time.Second, workers: 4, strategy: "single", notices: noticesRedis}
	sum, _ := runDemo(t, cfg, u)
	var table bytes.Buffer
	sum.writeTable(&table)
	if !regexp.MustCompile(`rotation notices +redis`).MatchString(table.String()) {
		t.Errorf("the summary does not say notices were on:\n%s", table.String())
	}
	t.Logf("with notices: %d rotations, %d logins, %d rejected", sum.Rotations, sum.Logins, sum.RejectedLogins)
}
