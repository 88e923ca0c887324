package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
)

func TestRunServesSeededSecrets(t *testing.T) {
	cases := []struct{ name, seed string }{
		{"object", `{"prod/db": {"username": "app", "password": "pw-from-seed"}, "plain": "pw-from-seed"}`},
		{"array", `[{"Name": "prod/db", "SecretString": "{\"password\":\"pw-from-seed\"}", "Tags": [{"Key": "team", "Value": "db"}]}, {"Name": "plain", "SecretString": "pw-from-seed"}]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secrets.json")
			if err := os.WriteFile(path, []byte(tc.seed), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			urls := make(chan string, 1)
			errc := make(chan error, 1)
			var logs fixture.Buffer
			go func() {
				errc <- run(ctx, []string{"-addr", "127.0.0.1:0", "-seed", path, "-v"}, &logs, func(u string) { urls <- u })
			}()
			var url string
			select {
			case url = <-urls:
			case err := <-errc:
				t.Fatalf("run: %v", err)
			}
			// A client built the way any SDK user would, signing with made-up credentials.
			c := secretsmanager.New(secretsmanager.Options{
				Region:       "us-east-1",
				BaseEndpoint: aws.String(url),
				Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI", ""),
			})
			out, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db")})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(aws.ToString(out.SecretString), `"pw-from-seed"`) {
				t.Fatal("seeded value not served")
			}
			cancel()
			if err := <-errc; err != nil {
				t.Fatalf("run: %v", err)
			}
			if l := logs.String(); !strings.Contains(l, "op=GetSecretValue") || strings.Contains(l, "pw-from-seed") {
				t.Fatalf("request log lacks the operation or holds a value:\n%s", l)
			}
		})
	}
}

func TestRunRejectsBadSeed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.json")
	os.WriteFile(path, []byte(`[{"SecretString":"hunter2"}]`), 0o600)
	err := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-seed", path}, &bytes.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "entry 0 has no Name") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %v, want an error naming entry 0 and no value", err)
	}
}
