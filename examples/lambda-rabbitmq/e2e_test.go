package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/rabbittest"
	"github.com/rotasafe/rotasafe/smtest"
)

// TestLambdaUnderRIE builds the function, runs it under the Lambda Runtime Interface Emulator
// pointed at smtest, has smtest's RotateSecret invoke it three times, and logs in to a real
// RabbitMQ node over AMQP with each new AWSCURRENT.
func TestLambdaUnderRIE(t *testing.T) {
	rie, err := exec.LookPath("aws-lambda-rie")
	if err != nil {
		rie = filepath.Join(os.Getenv("HOME"), "go", "bin", "aws-lambda-rie")
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			rie = filepath.Join(strings.TrimSpace(string(out)), "bin", "aws-lambda-rie")
		}
	}
	if _, err := os.Stat(rie); err != nil {
		msg := "aws-lambda-rie not found; install it with: go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@latest"
		if os.Getenv(rabbittest.EnvRequireIntegration) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	rs := rabbittest.New(t)
	sm := smtest.New(t)
	client := sm.Client()
	ctx := t.Context()

	bin := filepath.Join(t.TempDir(), "bootstrap")
	if out, err := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", freeAddr(t), bin)
	cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL_SECRETS_MANAGER="+sm.URL,
		"AWS_ACCESS_KEY_ID=AKIDSMTEST", "AWS_SECRET_ACCESS_KEY=smtest-not-a-secret",
		"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
	out := &lockedBuilder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("aws-lambda-rie does not listen")
		}
	}
	fn := "arn:aws:lambda:us-east-1:123456789012:function:rotate-rabbitmq"
	sm.RegisterRotationURL(fn, "http://"+addr)

	user, pw := "app-"+rand.Text()[:8], rand.Text()
	if err := rs.CreateUser(ctx, user, pw); err != nil {
		t.Fatal(err)
	}
	admin := newSecret(t, client, rs, rs.AdminUser, rs.AdminPassword, "")
	id := newSecret(t, client, rs, user, pw, admin)
	seen := []string{pw, rs.AdminPassword}
	for i := range 3 {
		rot, err := client.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(id), RotationLambdaARN: aws.String(fn)})
		if err != nil {
			t.Fatal(err)
		}
		if err := sm.LastRotationError(id); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		cur, err := rotasafe.Fetch(ctx, client, id, "", rotasafe.StageCurrent)
		if err != nil || cur.ID != aws.ToString(rot.VersionId) {
			t.Fatalf("rotation %d: AWSCURRENT is version %s (%v), want %s", i+1, cur.ID, err, aws.ToString(rot.VersionId))
		}
		s, err := rotasafe.ParseDBSecret([]byte(cur.SecretString))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := amqp.Dial(rs.AMQPURL(s.Username, s.Password))
		if err != nil {
			t.Fatalf("rotation %d: AWSCURRENT (user %s) does not log in: %v", i+1, s.Username, err)
		}
		conn.Close()
		seen = append(seen, s.Password)
	}
	log, err := rs.ReadLog()
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range seen {
		if strings.Contains(out.String(), p) || strings.Contains(log, p) {
			t.Errorf("password %d is in the function's output or the broker's log", i)
		}
	}
	if !strings.Contains(out.String(), `"step":"finishSecret"`) {
		t.Fatalf("the function logged no finishSecret step:\n%s", out.String())
	}
}

// lockedBuilder collects the emulator's output, written by exec's goroutines.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
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

// newSecret stores the secret of user on the node and returns its ARN.
func newSecret(t *testing.T, c *secretsmanager.Client, rs *rabbittest.Server, user, pw, masterARN string) string {
	t.Helper()
	m := map[string]any{"host": rs.Host, "port": rs.AMQPPort, "management_url": rs.MgmtURL, "username": user, "password": pw}
	if masterARN != "" {
		m["masterarn"] = masterARN
	}
	b, _ := json.Marshal(m)
	out, err := c.CreateSecret(context.WithoutCancel(t.Context()), &secretsmanager.CreateSecretInput{
		Name: aws.String("rabbitmq-" + user + "-" + strconv.Itoa(len(pw))), SecretString: aws.String(string(b))})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}
