package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/rotate"
)

// TestCrashTerminateBackends kills the rotation's database sessions from the server side
// (pg_terminate_backend), the first ones open after a random delay into each rotation, the
// way a failover or an operator would, then reruns the rotation.
func TestCrashTerminateBackends(t *testing.T) {
	// Apart from the others: its own servers; run beside them so that the package stays
	// within go test's ten minutes on a loaded 2-core machine.
	t.Parallel()
	long(t)
	pg := pgtest.New(t)
	n := sizeN(t, 15)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := newEnv(t, pg)
			ctx := t.Context()
			id, _ := e.newDBSecret(e.master())
			h := sc.handler(nil)
			killer, err := pgx.Connect(ctx, pg.DSN())
			if err != nil {
				t.Fatal(err)
			}
			defer killer.Close(context.Background())
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
					var killed int
					if err := killer.QueryRow(ctx, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend') k").Scan(&killed); err != nil {
						t.Fatal(err)
					}
					if killed > 0 {
						kills++
						err = <-done
						break
					}
				}
				if err != nil {
					failed++
				}
				what := fmt.Sprintf("run %d: sessions killed after %v (%v)", i+1, delay, err)
				e.checkInterrupted(id, what)
				if _, err := rotate.Rotate(ctx, e.api, id, h); err != nil {
					t.Fatalf("%s: rerun: %v", what, err)
				}
				e.checkFinished(id, what)
			}
			t.Logf("%d runs (clean rotation %v): %d with sessions killed mid-rotation, %d rotations failed", n, span, kills, failed)
		})
	}
}

// findRIE returns the path of aws-lambda-rie, or skips (fails with
// ROTASAFE_REQUIRE_INTEGRATION=1).
func findRIE(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	dirs := []string{"/tmp/riebin"}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	}
	for _, d := range dirs {
		if fi, err := os.Stat(filepath.Join(d, "aws-lambda-rie")); err == nil && fi.Mode().IsRegular() {
			return filepath.Join(d, "aws-lambda-rie")
		}
	}
	msg := "aws-lambda-rie not found; install it with: go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@latest"
	if os.Getenv(pgtest.EnvRequireIntegration) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lambdaProc is the rotation Lambda running under the emulator, in a process group of its own.
type lambdaProc struct {
	cmd *exec.Cmd
	url string
	out *logBuffer
}

// kill sends SIGKILL to the emulator and the function, as a Lambda timeout or a host crash.
func (p *lambdaProc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func startLambda(t *testing.T, rie, bin string, env []string, out *logBuffer) *lambdaProc {
	t.Helper()
	addr, apiAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = filepath.Dir(bin)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", rie, err)
	}
	p := &lambdaProc{cmd: cmd, url: "http://" + addr, out: out}
	for deadline := time.Now().Add(hangGuard); ; {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			p.kill()
			t.Fatalf("aws-lambda-rie does not listen on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCrashKillLambda runs examples/lambda-postgres under aws-lambda-rie, has smtest's
// RotateSecret invoke it, and kills the emulator's process group with SIGKILL at a random
// moment of the rotation; then it starts the function again, checks the invariant, lets the
// scheduler's retry (TriggerRotation) finish and checks that AWSCURRENT logs in. The
// function's output is searched for every password afterwards.
func TestCrashKillLambda(t *testing.T) {
	// Apart from the others: its own servers; run beside them so that the package stays
	// within go test's ten minutes on a loaded 2-core machine.
	t.Parallel()
	long(t)
	rie := findRIE(t)
	pg := pgtest.New(t)
	n := sizeN(t, 10)
	bin := filepath.Join(t.TempDir(), "bootstrap")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-tags", "lambda.norpc", "-o", bin, "../../examples/lambda-postgres").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := newEnv(t, pg)
			ctx := t.Context()
			master := e.master()
			id, _ := e.newDBSecret(master)
			env := []string{"ROTATION_STRATEGY=" + sc.env, "TLS_MODE=disable",
				"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + e.sm.URL,
				"AWS_ACCESS_KEY_ID=AKIDSMTEST", "AWS_SECRET_ACCESS_KEY=smtest-not-a-secret",
				"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"}
			fn := "arn:aws:lambda:us-east-1:123456789012:function:" + sc.name
			out := &logBuffer{}
			p := startLambda(t, rie, bin, env, out)
			defer func() { p.kill() }()
			e.sm.RegisterRotationURL(fn, p.url)
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
				p.kill()
				err := <-done
				if err != nil {
					interrupted++
				}
				p = startLambda(t, rie, bin, env, out)
				e.sm.RegisterRotationURL(fn, p.url)
				what := fmt.Sprintf("run %d: killed after %v (%v)", i+1, delay, err)
				e.checkInterrupted(id, what)
				if e.labels(id).RotationInProgress() {
					if _, err := e.sm.TriggerRotation(ctx, id); err != nil {
						t.Fatalf("%s: rerun: %v", what, err)
					}
				}
				e.checkFinished(id, what)
			}
			log := out.String()
			for _, sid := range []string{id, master} {
				for _, v := range e.sm.Versions(sid) {
					if !v.HasValue {
						continue
					}
					ver, err := rotasafe.Fetch(ctx, e.api, sid, v.ID, "")
					if err != nil {
						t.Fatal(err)
					}
					s, err := rotasafe.ParseDBSecret([]byte(ver.SecretString))
					if err != nil {
						t.Fatal(err)
					}
					for _, nd := range needles(s.Password) {
						if strings.Contains(log, nd) {
							t.Fatalf("the function's output holds a password of version %s", v.ID)
						}
					}
				}
			}
			t.Logf("%d runs (clean rotation %v), %d interrupted, function output %d bytes", n, span, interrupted, len(log))
		})
	}
}
