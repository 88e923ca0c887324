package smtest_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/smtest"
)

func statusOf(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name      string
		inject    func(s *smtest.Server)
		wantCode  string // "" = success
		wantCalls int    // GetSecretValue requests the server saw
		wantHTTP  int
	}{
		{"none", func(*smtest.Server) {}, "", 1, 0},
		{"fail_next_typed_not_found", func(s *smtest.Server) { s.Faults().FailNext("GetSecretValue", 1, "ResourceNotFoundException") }, "ResourceNotFoundException", 1, 400},
		{"fail_next_other_op_untouched", func(s *smtest.Server) { s.Faults().FailNext("DescribeSecret", 5, "InternalServiceError") }, "", 1, 0},
		{"fail_next_any_op", func(s *smtest.Server) { s.Faults().FailNext("", 1, "DecryptionFailure") }, "DecryptionFailure", 1, 400},
		{"fail_next_one_then_retry_succeeds", func(s *smtest.Server) { s.Faults().FailNext("GetSecretValue", 1, "InternalServiceError") }, "", 2, 0},
		{"throttling_retried_three_times", func(s *smtest.Server) { s.Faults().FailNext("GetSecretValue", 10, "ThrottlingException") }, "ThrottlingException", 3, 400},
		{"rate_limit_throttles", func(s *smtest.Server) { s.Faults().RateLimit("GetSecretValue", 0.0001, 1) }, "ThrottlingException", 3, 400},
		{"outage_503_retried", func(s *smtest.Server) { s.Faults().Outage(true) }, "ServiceUnavailable", 3, 503},
		{"fail_at_first", func(s *smtest.Server) { s.Faults().FailAt(1, "AccessDeniedException") }, "AccessDeniedException", 1, 400},
		{"clear_faults", func(s *smtest.Server) {
			s.Faults().Outage(true)
			s.Faults().FailNext("", 3, "ThrottlingException")
			s.Faults().Clear()
		}, "", 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, c := newServer(t)
			create(t, c, "f", "v")
			tc.inject(s)
			if tc.name == "rate_limit_throttles" {
				getValue(t, c, "f", "", "") // uses up the single token
			}
			s.ResetCalls()
			_, err := get(t.Context(), c, "f", "", "")
			if got := rotasafe.ErrorCode(err); got != tc.wantCode {
				t.Fatalf("got code %q (%v), want %q", got, err, tc.wantCode)
			}
			if n := s.Calls("GetSecretValue"); n != tc.wantCalls {
				t.Fatalf("server saw %d GetSecretValue calls, want %d", n, tc.wantCalls)
			}
			if tc.wantHTTP != 0 && statusOf(err) != tc.wantHTTP {
				t.Fatalf("HTTP status %d, want %d", statusOf(err), tc.wantHTTP)
			}
			if s.Calls("") != tc.wantCalls {
				t.Fatalf("Calls(\"\") = %d, want %d", s.Calls(""), tc.wantCalls)
			}
		})
	}
}

func TestFailAtCountsEveryOperation(t *testing.T) {
	s, c := newServer(t)
	create(t, c, "f", "v")
	c1 := s.Client(func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	s.Faults().FailAt(3, "InternalServiceError")
	if _, err := c1.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("f")}); err != nil {
		t.Fatalf("request 1: %v", err)
	}
	if _, err := get(t.Context(), c1, "f", "", ""); err != nil {
		t.Fatalf("request 2: %v", err)
	}
	var ise *types.InternalServiceError
	if _, err := c1.GetRandomPassword(t.Context(), &secretsmanager.GetRandomPasswordInput{}); !errors.As(err, &ise) {
		t.Fatalf("request 3: got %v, want InternalServiceError", err)
	}
	if _, err := get(t.Context(), c1, "f", "", ""); err != nil {
		t.Fatalf("request 4: %v", err)
	}
}

func TestLatency(t *testing.T) {
	s, c := newServer(t)
	create(t, c, "f", "v")
	s.Faults().Latency("GetSecretValue", time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := get(ctx, c, "f", "", ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the caller's deadline to expire during the injected latency", err)
	}
	if _, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("f")}); err != nil {
		t.Fatalf("DescribeSecret is not delayed, got %v", err)
	}
	s.Faults().Latency("GetSecretValue", 0)
	getValue(t, c, "f", "", "")
}

// TestLatencyEndsWithTheCaller: a caller that gives up during an injected latency ends the
// server's wait too, so no handler goroutine outlives the request it served.
func TestLatencyEndsWithTheCaller(t *testing.T) {
	s, c := newServer(t)
	create(t, c, "f", "v")
	s.Faults().Latency("GetSecretValue", time.Hour)
	waiting := func() bool {
		return len(fixture.Goroutines(func(stack string) bool { return strings.Contains(stack, "smtest.(*Faults).before") })) > 0
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := get(ctx, c, "f", "", ""); done <- err }()
	fixture.WaitFor(t, "the server to hold the request", time.Minute, waiting)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	fixture.WaitFor(t, "the server's handler to stop waiting once its caller is gone", time.Minute, func() bool { return !waiting() })
}

// TestCloseCutsLatency checks that Close does not wait out an injected latency.
func TestCloseCutsLatency(t *testing.T) {
	s := smtest.NewServer()
	c := s.Client(func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	s.Faults().Latency("", time.Hour)
	done := make(chan error, 1)
	go func() {
		_, err := c.GetRandomPassword(context.Background(), &secretsmanager.GetRandomPasswordInput{})
		done <- err
	}()
	for s.Calls("") == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	s.Close() // idempotent
	<-done
}

// TestConcurrentLabels runs 50 goroutines of puts, reads and label moves against one secret;
// afterwards, and at every read, exactly one version holds AWSCURRENT and no label sits on two
// versions.
func TestConcurrentLabels(t *testing.T) {
	s, c := newServer(t)
	create(t, c, "busy", "v0")
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			ctx := t.Context()
			switch i % 3 {
			case 0:
				_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("busy"), SecretString: aws.String("v")})
				errs <- err
			case 1:
				_, err := get(ctx, c, "busy", "", "")
				errs <- err
			case 2:
				out, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("busy"), SecretString: aws.String("p"), VersionStages: []string{"AWSPENDING"}})
				if err != nil {
					errs <- err
					return
				}
				// Promote may lose a race with another promotion; both outcomes keep the invariant.
				err = rotasafe.Promote(ctx, c, "busy", *out.VersionId)
				var ipe *types.InvalidParameterException
				if errors.As(err, &ipe) {
					err = nil
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	seen := map[string]string{}
	for id, stages := range s.Stages("busy") {
		for _, st := range stages {
			if other, ok := seen[st]; ok {
				t.Fatalf("label %s on versions %s and %s", st, other, id)
			}
			seen[st] = id
		}
	}
	if seen["AWSCURRENT"] == "" {
		t.Fatal("no version holds AWSCURRENT")
	}
	if got := s.Calls("PutSecretValue"); got != 33 {
		t.Fatalf("server counted %d PutSecretValue calls, want 33", got)
	}
}

func TestServerClientIgnoresEnvironment(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	t.Setenv("AWS_REGION", "eu-west-3")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	s := smtest.New(t)
	c := s.Client()
	if c.Options().Region != "us-east-1" {
		t.Fatalf("region %q, want us-east-1", c.Options().Region)
	}
	if _, err := c.GetRandomPassword(t.Context(), &secretsmanager.GetRandomPasswordInput{}); err != nil {
		t.Fatal(err)
	}
}
