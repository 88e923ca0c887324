package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The demo with -client pgxpool: the workers query a pgx pool configured by pgxpoolconn, and
// no error reaches them through either PostgreSQL strategy.
func TestDemoPgxPool(t *testing.T) {
	for _, strategy := range []string{"single", "alternating"} {
		t.Run(strategy, func(t *testing.T) {
			// The run ends after 3 rotations and a login after them (see until), not after a
			// time: the pool must really log in through rotations.
			u := newUntil(3)
			cfg := config{duration: hangGuard, rotateEvery: 300 * time.Millisecond, workers: 4, strategy: strategy,
				engine: enginePostgres, client: clientPgxpool}
			sum, _ := runDemo(t, cfg, u)
			if sum.Client != clientPgxpool {
				t.Errorf("summary client %q, want %q", sum.Client, clientPgxpool)
			}
		})
	}
}

func TestClientFlag(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-client", "gorm"}, `-client must be sql or pgxpool, not "gorm"`},
		{[]string{"-client", "pgxpool", "-engine", "mariadb"}, "-client pgxpool needs -engine postgres"},
	} {
		var stderr bytes.Buffer
		if _, err := parseFlags(tt.args, &stderr); err == nil || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("parseFlags(%q): %v, stderr %q; want %q", tt.args, err, stderr.String(), tt.want)
		}
	}
}
