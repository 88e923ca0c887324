package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rotasafe/rotasafe/retry"
)

var errRefused = errors.New("connection refused")
var errBadPassword = errors.New("password authentication failed")

func ExampleDo() {
	p := retry.Policy{
		Initial:     time.Millisecond,
		Max:         10 * time.Millisecond,
		MaxAttempts: 5,
		// Only transient failures are worth another call.
		Retryable: func(err error) bool { return errors.Is(err, errRefused) },
		OnRetry: func(attempt int, err error, wait time.Duration) {
			fmt.Printf("attempt %d failed: %v\n", attempt, err)
		},
	}
	calls := 0
	err := retry.Do(context.Background(), p, func(ctx context.Context) error {
		calls++
		if calls < 3 {
			return errRefused
		}
		return nil
	})
	fmt.Println("connected:", err == nil, "after", calls, "calls")
	// Output:
	// attempt 1 failed: connection refused
	// attempt 2 failed: connection refused
	// connected: true after 3 calls
}

func ExampleExhaustedError() {
	p := retry.Policy{Initial: time.Millisecond, MaxAttempts: 3}
	err := retry.Do(context.Background(), p, func(ctx context.Context) error {
		return errRefused
	})
	if ex, ok := errors.AsType[*retry.ExhaustedError](err); ok {
		fmt.Println("attempts:", ex.Attempts)
		fmt.Println("last error:", ex.Err)
		fmt.Println("context ended it:", ex.CtxErr != nil)
	}
	fmt.Println("is refused:", errors.Is(err, errRefused))
	// Output:
	// attempts: 3
	// last error: connection refused
	// context ended it: false
	// is refused: true
}

func ExamplePermanent() {
	calls := 0
	err := retry.Do(context.Background(), retry.Default(), func(ctx context.Context) error {
		calls++
		return retry.Permanent(fmt.Errorf("login as app: %w", errBadPassword))
	})
	fmt.Println(err)
	fmt.Println("calls:", calls, "is bad password:", errors.Is(err, errBadPassword))
	// Output:
	// login as app: password authentication failed
	// calls: 1 is bad password: true
}

func ExampleDoValue() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	calls := 0
	version, err := retry.DoValue(ctx, retry.Default(), func(ctx context.Context) (string, error) {
		calls++
		if calls == 1 {
			return "", errRefused
		}
		return "v2", nil
	})
	fmt.Println(version, err)
	// Output:
	// v2 <nil>
}
