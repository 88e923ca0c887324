package reliability

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/smtest"
)

// myEnv is env on a MariaDB server instead of PostgreSQL.
type myEnv struct {
	*env
	my *mysqltest.Server
}

func newMyEnv(t testing.TB, my *mysqltest.Server, smOpts ...smtest.Option) *myEnv {
	t.Helper()
	return &myEnv{env: newEngineEnv(t, myEngine{my}, smOpts...), my: my}
}

var myScenarios = []scenario{
	{"mysql_single_user", "SINGLE_USER", rotate.MySQLSingleUser, false, 20},
	{"mysql_alternating_users", "ALTERNATING_USERS", rotate.MySQLAlternatingUsers, true, 10},
	{"mysql_dual_password", "DUAL_PASSWORD", rotate.MySQLDualPassword, true, 10},
}

// checkInterrupted is env.checkInterrupted, and for the scenarios that promise it, AWSCURRENT
// logs in.
func (e *myEnv) checkInterrupted(sc scenario, id, what string) {
	e.t.Helper()
	e.env.checkInterrupted(id, what)
	if sc.keepsCurrent && !e.stageLogsIn(id, rotasafe.StageCurrent) {
		e.t.Fatalf("%s: AWSCURRENT does not log in", what)
	}
}

// TestMySQLCrashKillSessions kills the rotation's database sessions from the server side
// (KILL CONNECTION), the first ones open after a random delay into each rotation, the way a
// failover or an operator would, then checks that a credential the labels reach still logs in
// and reruns the rotation. ROTASAFE_RELIABILITY_N sets the number of runs per strategy.
func TestMySQLCrashKillSessions(t *testing.T) {
	// Apart from the others: its own servers; run beside them so that the package stays
	// within go test's ten minutes on a loaded 2-core machine.
	t.Parallel()
	long(t)
	my := mysqltest.New(t)
	n := sizeN(t, 15)
	killer := myAdminConn(t, my)
	for _, sc := range myScenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := newMyEnv(t, my)
			ctx := t.Context()
			id, _ := e.newDBSecret(e.master())
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
				var err error
			poll:
				for {
					select {
					case err = <-done:
						break poll
					default:
					}
					if killOthers(t, killer) > 0 {
						kills++
						err = <-done
						break
					}
				}
				if err != nil {
					failed++
				}
				what := fmt.Sprintf("run %d: sessions killed after %v (%v)", i+1, delay, err)
				e.checkInterrupted(sc, id, what)
				if _, err := rotate.Rotate(ctx, e.api, id, h); err != nil {
					t.Fatalf("%s: rerun: %v", what, err)
				}
				e.checkFinished(id, what)
			}
			t.Logf("%d runs (clean rotation %v): %d with sessions killed mid-rotation, %d rotations failed", n, span, kills, failed)
		})
	}
}

// myAdminConn returns one admin session on my, closed when the test ends.
func myAdminConn(t *testing.T, my *mysqltest.Server) *sql.Conn {
	t.Helper()
	connector, err := mysql.NewConnector(my.Config(my.AdminUser(), my.AdminPassword(), ""))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	c, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// killOthers kills every client session but killer's own and returns how many it killed.
func killOthers(t *testing.T, killer *sql.Conn) int {
	t.Helper()
	ctx := t.Context()
	rows, err := killer.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND NOT IN ('Daemon', 'Binlog Dump') AND USER NOT IN ('system user', 'event_scheduler')")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	killed := 0
	for _, id := range ids {
		// An ID whose session ended in between is error 1094 (unknown thread): not a kill.
		if _, err := killer.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatInt(id, 10)); err == nil {
			killed++
		}
	}
	return killed
}

// TestMySQLCrashKillLambda runs examples/lambda-mysql under aws-lambda-rie, has smtest's
// RotateSecret invoke it, and kills the emulator's process group with SIGKILL at a random
// moment of the rotation; then it starts the function again, checks the invariant, lets the
// scheduler's retry (TriggerRotation) finish and checks that AWSCURRENT logs in. The
// function's output and the server's general log are searched for every password afterwards.
func TestMySQLCrashKillLambda(t *testing.T) {
	// Apart from the others: its own servers; run beside them so that the package stays
	// within go test's ten minutes on a loaded 2-core machine.
	t.Parallel()
	long(t)
	rie := findRIE(t)
	my := mysqltest.New(t)
	n := sizeN(t, 10)
	bin := filepath.Join(t.TempDir(), "bootstrap")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-tags", "lambda.norpc", "-o", bin, "../../examples/lambda-mysql").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, sc := range myScenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := newMyEnv(t, my)
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
				e.checkInterrupted(sc, id, what)
				if e.labels(id).RotationInProgress() {
					if _, err := e.sm.TriggerRotation(ctx, id); err != nil {
						t.Fatalf("%s: rerun: %v", what, err)
					}
				}
				e.checkFinished(id, what)
			}
			log := out.String()
			pws := e.passwords(id, master)
			for _, pw := range pws {
				for _, nd := range needles(pw) {
					if strings.Contains(log, nd) {
						t.Fatal("the function's output holds a password")
					}
				}
			}
			my.CheckLogs(t, pws...)
			t.Logf("%d runs (clean rotation %v), %d interrupted, function output %d bytes", n, span, interrupted, len(log))
		})
	}
}
