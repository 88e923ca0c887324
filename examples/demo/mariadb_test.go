package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe/internal/mysqltest"
)

// The demo on MariaDB (-engine mariadb), for each strategy: rotations happen and no error
// reaches the application. The run ends after 3 rotations and a login after them, not after
// a time (see TestDemoRidesThroughRotations).
func TestDemoMariaDB(t *testing.T) {
	const wantRotations = 3
	for _, strategy := range []string{"single", "alternating", "dual"} {
		t.Run(strategy, func(t *testing.T) {
			loginsAtLast := int64(-1)
			stop := func(p progress) bool {
				if p.AppErrors > 0 || p.RotationErrors > 0 {
					return true
				}
				if p.Rotations < wantRotations {
					return false
				}
				if loginsAtLast < 0 {
					loginsAtLast = p.Logins
				}
				return p.Logins > loginsAtLast
			}
			cfg := config{duration: hangGuard, rotateEvery: 300 * time.Millisecond, workers: 6, strategy: strategy, engine: engineMariaDB, stop: stop}
			var out bytes.Buffer
			sum, err := run(t.Context(), cfg, newStatus(&out, false))
			if errors.Is(err, mysqltest.ErrBinariesNotFound) && os.Getenv(mysqltest.EnvRequireIntegration) != "1" {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if sum.AppErrors != 0 || sum.RotationErrors != 0 {
				t.Errorf("got %d app errors and %d failed rotations, want none; output:\n%s", sum.AppErrors, sum.RotationErrors, out.String())
			}
			if sum.Rotations < wantRotations || sum.Queries == 0 || loginsAtLast < 0 || sum.Logins <= loginsAtLast {
				t.Errorf("the run hit its %s hang guard after %d rotations, %d queries and %d logins (want %d rotations under load and a login after them)",
					hangGuard, sum.Rotations, sum.Queries, sum.Logins, wantRotations)
			}
			if !strings.Contains(out.String(), "querying MariaDB") {
				t.Errorf("the status does not name MariaDB:\n%s", out.String())
			}
		})
	}
}

func TestDemoEngineFlags(t *testing.T) {
	for _, args := range [][]string{{"-engine", "oracle"}, {"-strategy", "dual"}} {
		var stderr bytes.Buffer
		if _, err := parseFlags(args, &stderr); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if _, err := parseFlags([]string{"-engine", "mariadb", "-strategy", "dual"}, &bytes.Buffer{}); err != nil {
		t.Errorf("-engine mariadb -strategy dual: %v", err)
	}
}
