//lint:file-ignore SA1019 rotate.Rotate, deprecated for Handler.Rotate, stays callable; these callers drive one Handler through the API of their test server.

package reliability

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/retry"
	"github.com/rotasafe/rotasafe/rotate"
)

// TestRotationsUnderLoad runs, for each engine and its client, 8 goroutines that each log in
// and run a command over and over (sqlconn keeps no idle connection, so every query is a
// fresh login) while each strategy of the engine rotates the secret: no command may fail, and
// no password may reach the client's log or what the server recorded. A quarter of
// scenario.rotations (at least 3) by default; ROTASAFE_RELIABILITY_N=full (.ci/run) runs
// scenario.rotations, an integer that many for all.
func TestRotationsUnderLoad(t *testing.T) {
	long(t)
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel() // a server of its own
			srv := d.start(t, nil)
			for _, sc := range d.scenarios {
				t.Run(sc.name, func(t *testing.T) { testRotationsUnderLoad(t, srv, sc) })
			}
		})
	}
}

func testRotationsUnderLoad(t *testing.T, srv server, sc scenario) {
	e := newEngineEnv(t, srv)
	ctx := t.Context()
	id, _ := e.newDBSecret(e.master())
	h := sc.handler(nil)
	var logs testserver.Buffer
	c := cache.New(e.api, cache.WithMinRefreshInterval(time.Millisecond), cache.WithLogger(nil))
	defer c.Close()
	ping, stats := srv.app(t, c, id, clientOptions{
		logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		policy: retry.Policy{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond, MaxElapsed: hangGuard},
	})

	const workers = 8
	l := fixture.StartLoad(workers, func(int, int) error {
		qctx, cancel := context.WithTimeout(ctx, hangGuard)
		defer cancel()
		return ping(qctx)
	})
	n := fixture.Count(t, sc.rotations, max(3, sc.rotations/4))
	l.Between(t, "rotation", n, workers, hangGuard, func(int) error {
		_, err := rotate.Rotate(ctx, e.api, id, h)
		return err
	})
	l.ReportErrors(t, "command")
	t.Logf("%d rotations, %d commands, %d errors; client stats %+v", n, l.OK(), len(l.Errors()), stats())
	haystacks := srv.serverLogs(t)
	haystacks["client log"] = logs.String()
	for _, pw := range e.passwords(id) {
		for _, nd := range fixture.Needles(pw) {
			for where, hay := range haystacks {
				if strings.Contains(hay, nd) {
					t.Fatalf("a password appears in the %s", where)
				}
			}
		}
	}
}
