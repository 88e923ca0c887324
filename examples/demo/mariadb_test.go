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
// reaches the application.
func TestDemoMariaDB(t *testing.T) {
	for _, strategy := range []string{"single", "alternating", "dual"} {
		t.Run(strategy, func(t *testing.T) {
			cfg := config{duration: 3 * time.Second, rotateEvery: 300 * time.Millisecond, workers: 6, strategy: strategy, engine: engineMariaDB}
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
			if sum.Rotations < 3 || sum.Queries == 0 {
				t.Errorf("got %d rotations and %d queries, want rotations under load", sum.Rotations, sum.Queries)
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
