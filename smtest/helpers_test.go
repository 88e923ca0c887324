package smtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/rotasafe/rotasafe/smtest"
)

// noBackoff makes the SDK retry at once, so retry tests take no time.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// fastRetry is the SDK's standard retryer with attempts, no backoff and no retry quota.
func fastRetry(attempts int) func(*secretsmanager.Options) {
	return func(o *secretsmanager.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.Backoff = noBackoff{}
			so.RateLimiter = ratelimit.None
		})
	}
}

// newServer starts a server and a client that retries at once.
func newServer(t *testing.T) (*smtest.Server, *secretsmanager.Client) {
	t.Helper()
	s := smtest.New(t)
	return s, s.Client(fastRetry(3))
}

// create makes a secret with a string value and returns its ARN and version ID.
func create(t *testing.T, c *secretsmanager.Client, name, value string) (arn, versionID string) {
	t.Helper()
	out, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: &name, SecretString: &value})
	if err != nil {
		t.Fatalf("CreateSecret %s: %v", name, err)
	}
	return *out.ARN, aws.ToString(out.VersionId)
}

// put stores value with the given stages and returns the new version ID.
func put(t *testing.T, c *secretsmanager.Client, id, value string, stages ...string) string {
	t.Helper()
	out, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: &id, SecretString: &value, VersionStages: stages})
	if err != nil {
		t.Fatalf("PutSecretValue %s: %v", id, err)
	}
	return *out.VersionId
}

func get(ctx context.Context, c *secretsmanager.Client, id, versionID, stage string) (*secretsmanager.GetSecretValueOutput, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: &id}
	if versionID != "" {
		in.VersionId = &versionID
	}
	if stage != "" {
		in.VersionStage = &stage
	}
	return c.GetSecretValue(ctx, in)
}

// getValue reads a string value and fails the test on error.
func getValue(t *testing.T, c *secretsmanager.Client, id, versionID, stage string) string {
	t.Helper()
	out, err := get(t.Context(), c, id, versionID, stage)
	if err != nil {
		t.Fatalf("GetSecretValue %s %s %s: %v", id, versionID, stage, err)
	}
	return aws.ToString(out.SecretString)
}

func describe(t *testing.T, c *secretsmanager.Client, id string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	out, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: &id})
	if err != nil {
		t.Fatalf("DescribeSecret %s: %v", id, err)
	}
	return out
}

// labelsOf returns DescribeSecret's VersionIdsToStages with each list sorted.
func labelsOf(t *testing.T, c *secretsmanager.Client, id string) map[string][]string {
	t.Helper()
	m := describe(t, c, id).VersionIdsToStages
	for _, v := range m {
		slices.Sort(v)
	}
	return m
}

// wantCode checks that err is an API error with the code, message (when msg != "") and Go
// type T.
func wantErr[T error](t *testing.T, err error, code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	var typed T
	if !errors.As(err, &typed) {
		t.Fatalf("got %T (%v), want %T", err, err, typed)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want a smithy.APIError", err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("got code %q, want %q", ae.ErrorCode(), code)
	}
	if msg != "" && ae.ErrorMessage() != msg {
		t.Fatalf("got message %q, want %q", ae.ErrorMessage(), msg)
	}
}

// rawCall posts body to the server with X-Amz-Target secretsmanager.<op> and returns the
// status, the decoded body and the raw body.
func rawCall(t *testing.T, s *smtest.Server, target string, body string) (int, map[string]any, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("answer to %s is not a JSON object: %v", target, err)
	}
	return resp.StatusCode, m, raw
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
