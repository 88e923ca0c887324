package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// TestTransient pins which errors are bridged with stale versions. The integration tests
// produce most of them through the real SDK; this covers the shapes smtest cannot (a refused
// connection, the SDK's retry quota, a 5xx with an unknown code).
func TestTransient(t *testing.T) {
	t.Parallel()
	op := func(err error) error {
		return fmt.Errorf("rotasafe: get app/db AWSCURRENT: %w",
			&smithy.OperationError{ServiceID: "Secrets Manager", OperationName: "GetSecretValue", Err: err})
	}
	api := func(code string, fault smithy.ErrorFault) error {
		return &smithy.GenericAPIError{Code: code, Message: "m", Fault: fault}
	}
	status := func(code int, err error) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: err}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"throttling", op(api("ThrottlingException", smithy.FaultClient)), true},
		{"limit exceeded", op(api("LimitExceededException", smithy.FaultClient)), true},
		{"retries exhausted on throttling", op(&retry.MaxAttemptsError{Attempt: 3, Err: api("ThrottlingException", smithy.FaultClient)}), true},
		{"retry quota", op(fmt.Errorf("failed to get rate limit token, %w", ratelimit.QuotaExceededError{Available: 0, Requested: 5})), true},
		{"internal error", op(&types.InternalServiceError{}), true},
		{"503 unknown code", op(status(503, api("Whatever", smithy.FaultUnknown))), true},
		{"server fault", op(api("Whatever", smithy.FaultServer)), true},
		{"connection refused", op(&smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}), true},
		{"unexpected EOF", op(io.ErrUnexpectedEOF), true},
		{"fetch timeout", op(context.DeadlineExceeded), true},
		{"not found", op(&types.ResourceNotFoundException{}), false},
		{"access denied", op(api("AccessDeniedException", smithy.FaultClient)), false},
		{"access denied at 400", op(status(400, api("AccessDeniedException", smithy.FaultClient))), false},
		{"decryption failure", op(&types.DecryptionFailure{}), false},
		{"invalid request", op(&types.InvalidRequestException{}), false},
		{"cancelled (Close)", op(context.Canceled), false},
		{"closed", ErrClosed, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := transient(tt.err); got != tt.want {
				t.Errorf("transient(%v): got %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		failures int
		ceiling  float64 // seconds
	}{{1, 1}, {2, 2}, {3, 4}, {5, 16}, {6, 30}, {100, 30}}
	c := New(&secretsmanager.Client{}, WithClock(time.Now))
	defer c.Close()
	for _, tt := range tests {
		for range 20 {
			e := &entry{}
			var d float64
			for n := 1; n <= tt.failures; n++ {
				e.failures = n
				d = c.nextBackoff(e).Seconds()
			}
			if d < tt.ceiling/2 || d > tt.ceiling {
				t.Errorf("backoff after %d failures: got %vs, want within [%v, %v]", tt.failures, d, tt.ceiling/2, tt.ceiling)
			}
		}
	}
}
