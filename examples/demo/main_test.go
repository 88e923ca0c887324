package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe/internal/pgtest"
)

// requirePG skips when PostgreSQL cannot be started, unless integration tests are required.
func requirePG(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, pgtest.ErrBinariesNotFound) && os.Getenv(pgtest.EnvRequireIntegration) != "1" {
		t.Skip(err)
	}
}

// The demo's main loop, short: rotations happen, no error reaches the application, and the
// output piped to a buffer holds clean lines.
func TestDemoRidesThroughRotations(t *testing.T) {
	for _, strategy := range []string{"single", "alternating"} {
		t.Run(strategy, func(t *testing.T) {
			cfg := config{duration: 4 * time.Second, rotateEvery: 300 * time.Millisecond, workers: 6, strategy: strategy}
			var out bytes.Buffer
			sum, err := run(t.Context(), cfg, newStatus(&out, false))
			requirePG(t, err)
			if err != nil {
				t.Fatal(err)
			}
			if sum.AppErrors != 0 || sum.RotationErrors != 0 {
				t.Errorf("got %d app errors and %d failed rotations, want none; output:\n%s", sum.AppErrors, sum.RotationErrors, out.String())
			}
			if sum.Rotations < 5 {
				t.Errorf("got %d rotations in %s, want at least 5", sum.Rotations, cfg.duration)
			}
			if sum.Queries == 0 || sum.Logins <= int64(sum.Rotations) {
				t.Errorf("got %d queries and %d logins: the workers must really log in", sum.Queries, sum.Logins)
			}
			if strings.ContainsAny(out.String(), "\r\033") {
				t.Errorf("non-terminal output holds control characters: %q", out.String())
			}
			if n := strings.Count(out.String(), "\nrotation "); n < int(sum.Rotations) {
				t.Errorf("got %d rotation lines for %d rotations", n, sum.Rotations)
			}
		})
	}
}

func TestRealMainExitStatusAndJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := realMain([]string{"-duration", "1500ms", "-rotate-every", "400ms", "-workers", "2", "-json"}, &stdout, &stderr)
	if code == exitSetup && strings.Contains(stderr.String(), "binaries not found") {
		requirePG(t, pgtest.ErrBinariesNotFound)
	}
	if code != exitOK {
		t.Fatalf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
	}
	var sum summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, stdout.String())
	}
	if sum.Rotations == 0 || sum.Strategy != "single" {
		t.Errorf("summary = %+v", sum)
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
		if os.Getenv(pgtest.EnvRequireIntegration) == "1" {
			t.Fatal("redis-server not found; install it (Debian: apt-get install redis-server)")
		}
		t.Skip("redis-server not found; install it (Debian: apt-get install redis-server)")
	}
	// One rotation a second: the cache reads for notices at most one version a second per
	// secret after a burst of three (MinRefreshInterval).
	cfg := config{duration: 5 * time.Second, rotateEvery: time.Second, workers: 4, strategy: "single", notices: noticesRedis}
	var out bytes.Buffer
	sum, err := run(t.Context(), cfg, newStatus(&out, false))
	requirePG(t, err)
	if err != nil {
		t.Fatal(err)
	}
	if sum.AppErrors != 0 || sum.RotationErrors != 0 || sum.Rotations < 3 {
		t.Errorf("got %d app errors, %d failed rotations in %d; want none in at least 3; output:\n%s", sum.AppErrors, sum.RotationErrors, sum.Rotations, out.String())
	}
	var table bytes.Buffer
	sum.writeTable(&table)
	if !strings.Contains(table.String(), "rotation notices                  redis") {
		t.Errorf("the summary does not say notices were on:\n%s", table.String())
	}
	t.Logf("with notices: %d rotations, %d logins, %d rejected", sum.Rotations, sum.Logins, sum.RejectedLogins)
}
