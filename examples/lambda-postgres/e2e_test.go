package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/smtest"
)

// rieInstall is the command that installs the pinned Lambda Runtime Interface Emulator.
const rieInstall = "go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// findRIE returns the path of aws-lambda-rie (on PATH or in $(go env GOPATH)/bin), or skips the
// test, or fails it when ROTASAFE_REQUIRE_INTEGRATION=1.
func findRIE(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			if p := filepath.Join(dir, "bin", "aws-lambda-rie"); isFile(p) {
				return p
			}
		}
	}
	msg := "aws-lambda-rie not found; install it with: " + rieInstall
	if os.Getenv("ROTASAFE_REQUIRE_INTEGRATION") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// buildBootstrap builds this command as a Lambda bootstrap for the host's platform.
func buildBootstrap(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-tags", "lambda.norpc", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
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

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startRIE runs bin under the emulator with the environment env and returns the invoke URL.
func startRIE(t *testing.T, rie, bin string, env ...string) (string, *lockedBuffer) {
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
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", rie, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("aws-lambda-rie output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(2 * time.Minute) // a hang guard: a loaded machine starts it late
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + addr, out
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie does not listen on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLambdaUnderRIE builds the function, runs it under the Lambda Runtime Interface Emulator
// pointed at smtest, has smtest's RotateSecret invoke it, and logs in to a real PostgreSQL
// with the new AWSCURRENT.
func TestLambdaUnderRIE(t *testing.T) {
	rie := findRIE(t)
	pg := pgtest.New(t)
	sm := smtest.New(t)
	client := sm.Client()
	bin := buildBootstrap(t)
	ctx := t.Context()

	master := newSecret(t, pg, client, pg.SuperUser(), pg.SuperPassword(), "")
	for _, strategy := range []string{"SINGLE_USER", "ALTERNATING_USERS", "SINGLE_USER_THROUGH_ADMIN"} {
		t.Run(strategy, func(t *testing.T) {
			url, out := startRIE(t, rie, bin,
				"ROTATION_STRATEGY="+strategy,
				"AWS_ENDPOINT_URL_SECRETS_MANAGER="+sm.URL,
				"AWS_ACCESS_KEY_ID=AKIDSMTEST", "AWS_SECRET_ACCESS_KEY=smtest-not-a-secret",
				"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
				"AWS_EC2_METADATA_DISABLED=true",
			)
			fn := "arn:aws:lambda:us-east-1:123456789012:function:rotate-" + strings.ToLower(strategy)
			sm.RegisterRotationURL(fn, url)

			user, pw := pgtest.UniqueName("app"), rand32()
			if err := pg.CreateRole(ctx, user, pw); err != nil {
				t.Fatal(err)
			}
			id := newSecret(t, pg, client, user, pw, master)
			for i := range 3 {
				rot, err := client.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(id), RotationLambdaARN: aws.String(fn)})
				if err != nil {
					t.Fatal(err)
				}
				if err := sm.LastRotationError(id); err != nil {
					t.Fatalf("rotation %d: %v", i+1, err)
				}
				cur, err := rotasafe.Fetch(ctx, client, id, "", rotasafe.StageCurrent)
				if err != nil {
					t.Fatal(err)
				}
				if cur.ID != aws.ToString(rot.VersionId) {
					t.Fatalf("rotation %d: AWSCURRENT is version %s, want %s", i+1, cur.ID, aws.ToString(rot.VersionId))
				}
				s, err := rotasafe.ParseDBSecret([]byte(cur.SecretString))
				if err != nil {
					t.Fatal(err)
				}
				conn, err := pgx.Connect(ctx, pg.ConnString(s.Username, s.Password, "postgres"))
				if err != nil {
					t.Fatalf("rotation %d: AWSCURRENT (user %s) does not log in: %v", i+1, s.Username, err)
				}
				conn.Close(context.Background())
				if strings.Contains(out.String(), s.Password) {
					t.Fatalf("rotation %d: the function's output holds the new password", i+1)
				}
			}
			if !strings.Contains(out.String(), `"step":"finishSecret"`) {
				t.Fatalf("the function logged no finishSecret step:\n%s", out.String())
			}
		})
	}
}

func rand32() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newSecret stores a database secret for user on pg and returns its ARN.
func newSecret(t *testing.T, pg *pgtest.Cluster, c *secretsmanager.Client, user, pw, masterARN string) string {
	t.Helper()
	s := rotasafe.DBSecret{Engine: "postgres", Host: pg.Host(), Port: pg.Port(), Username: user, Password: pw, DBName: "postgres", MasterARN: masterARN}
	b, err := s.MarshalSecret()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(pgtest.UniqueName("db")), SecretString: aws.String(string(b))})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}
