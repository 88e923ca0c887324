//lint:file-ignore SA1019 rotate.Rotate, deprecated for Handler.Rotate, stays callable; these callers drive one Handler through the API of their test server.

package reliability

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/internal/testserver/lambdatest"
	"github.com/rotasafe/rotasafe/rotate"
)

// TestCrashKillSessions kills the rotation's database sessions from the server side
// (PostgreSQL: pg_terminate_backend; MariaDB: KILL CONNECTION), the first ones open after a
// random delay into each rotation, the way a failover or an operator would, then checks that
// a credential the labels reach still logs in and reruns the rotation.
// 4 runs per strategy by default; ROTASAFE_RELIABILITY_N=full (.ci/run) runs 15, an integer
// that many.
func TestCrashKillSessions(t *testing.T) {
	// Apart from the others: its own servers; run beside them so that the package stays
	// within go test's ten minutes on a loaded 2-core machine.
	t.Parallel()
	long(t)
	n := fixture.Count(t, 15, 4)
	eachSQLDatabase(t, func(t *testing.T, d database, srv server) {
		killOthers := srv.(sessionKiller).sessionKiller(t)
		eachScenario(t, d, srv, func(t *testing.T, sc scenario, e *env, id string) {
			ctx := t.Context()
			h := sc.handler(nil)
			start := time.Now()
			if _, err := rotate.Rotate(ctx, e.api, id, h); err != nil {
				t.Fatal(err)
			}
			span := time.Since(start)
			failed, kills := 0, 0
			for i := range n {
				delay := time.Duration(rand.Int64N(int64(span) + 1))
				done := make(chan error, 1)
				go func() { _, err := rotate.Rotate(ctx, e.api, id, h); done <- err }()
				time.Sleep(delay)
				// Kill the first sessions seen after the delay, polling until the rotation ends.
				var err error
			poll:
				for {
					select {
					case err = <-done:
						break poll
					default:
					}
					if killOthers() > 0 {
						kills++
						err = <-done
						break
					}
				}
				if err != nil {
					failed++
				}
				what := fmt.Sprintf("run %d: sessions killed after %v (%v)", i+1, delay, err)
				e.checkRerun(sc, id, what, func() error { _, err := rotate.Rotate(ctx, e.api, id, h); return err })
			}
			t.Logf("%d runs (clean rotation %v): %d with sessions killed mid-rotation, %d rotations failed", n, span, kills, failed)
		})
	})
}

// TestCrashKillLambda runs the engine's rotation function (examples/lambda-postgres,
// examples/lambda-mysql) under aws-lambda-rie, has smtest's RotateSecret invoke it, and kills
// the emulator's process group with SIGKILL at a random moment of the rotation; then it starts
// the function again, checks the invariant, lets the scheduler's retry (TriggerRotation)
// finish and checks that AWSCURRENT logs in. The function's output and what the server
// recorded are searched for every password afterwards. 3 runs per strategy by default;
// ROTASAFE_RELIABILITY_N=full (.ci/run) runs 10, an integer that many.
func TestCrashKillLambda(t *testing.T) {
	// Apart from the others: its own servers; run beside them so that the package stays
	// within go test's ten minutes on a loaded 2-core machine.
	t.Parallel()
	long(t)
	rie := lambdatest.FindRIE(t)
	n := fixture.Count(t, 10, 3)
	eachSQLDatabase(t, func(t *testing.T, d database, srv server) {
		dir, drop := srv.(lambdaFunction).lambda()
		bin := lambdatest.Build(t, "../../examples/"+dir)
		for _, sc := range d.scenarios {
			t.Run(sc.name, func(t *testing.T) {
				e := newEngineEnv(t, srv)
				ctx := t.Context()
				master := e.master()
				id, _ := e.newDBSecret(master)
				env := append(lambdatest.SMEnv(e.sm.URL), "ROTATION_STRATEGY="+sc.env, "TLS_MODE=disable")
				fn := "arn:aws:lambda:us-east-1:123456789012:function:" + sc.name
				var outputs []func() string
				startFn := func() *lambdatest.Process {
					p := lambdatest.Start(t, rie, bin, env, drop)
					outputs = append(outputs, p.Output)
					e.sm.RegisterRotationURL(fn, p.URL)
					return p
				}
				p := startFn()
				start := time.Now()
				if err := e.rotateSecret(ctx, id, fn, ""); err != nil {
					t.Fatal(err)
				}
				span := time.Since(start)
				interrupted := 0
				for i := range n {
					delay := time.Duration(rand.Int64N(int64(span) + 1))
					done := make(chan error, 1)
					go func() { done <- e.rotateSecret(ctx, id, fn, "") }()
					time.Sleep(delay)
					p.Kill()
					err := <-done
					if err != nil {
						interrupted++
					}
					p = startFn()
					what := fmt.Sprintf("run %d: killed after %v (%v)", i+1, delay, err)
					e.checkInterrupted(sc, id, what)
					if e.labels(id).RotationInProgress() {
						if _, err := e.sm.TriggerRotation(ctx, id); err != nil {
							t.Fatalf("%s: rerun: %v", what, err)
						}
					}
					e.checkFinished(id, what)
				}
				var log strings.Builder
				for _, out := range outputs {
					log.WriteString(out())
				}
				pws := e.passwords(id, master)
				for _, pw := range pws {
					for _, nd := range fixture.Needles(pw) {
						if strings.Contains(log.String(), nd) {
							t.Fatal("the function's output holds a password")
						}
					}
				}
				if c, ok := srv.(logChecker); ok {
					c.CheckLogs(t, pws...)
				}
				t.Logf("%d runs (clean rotation %v), %d interrupted, function output %d bytes", n, span, interrupted, log.Len())
			})
		}
	})
}
