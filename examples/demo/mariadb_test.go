package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The demo on MariaDB (-engine mariadb), for each strategy: rotations happen and no error
// reaches the application. The run ends after 3 rotations and a login after them (see
// until), not after a time.
func TestDemoMariaDB(t *testing.T) {
	const wantRotations = 3
	for _, strategy := range []string{"single", "alternating", "dual"} {
		t.Run(strategy, func(t *testing.T) {
			u := newUntil(wantRotations)
			cfg := config{duration: hangGuard, rotateEvery: 300 * time.Millisecond, workers: 6, strategy: strategy, engine: engineMariaDB}
			_, out := runDemo(t, cfg, u)
			if !strings.Contains(out, "querying MariaDB") {
				t.Errorf("the status does not name MariaDB:\n%s", out)
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
