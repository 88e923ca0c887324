package pgtest

import (
	"context"
	"errors"
	"os"
	"testing"
)

// EnvRequireIntegration names the environment variable that, set to 1, turns
// the skip New does without server binaries into a failure.
const EnvRequireIntegration = "ROTASAFE_REQUIRE_INTEGRATION"

// New starts a cluster for a test or benchmark and closes it when the test
// ends (tb.Cleanup). Without the server binaries it skips the test with a
// message that says what to install, or fails it when
// ROTASAFE_REQUIRE_INTEGRATION=1. Any other error fails the test.
func New(tb testing.TB, opts ...Option) *Cluster {
	tb.Helper()
	return newTB(tb, Start, opts)
}

// newTB is New with the start function as a parameter, for its own tests.
func newTB(tb testing.TB, start func(context.Context, ...Option) (*Cluster, error), opts []Option) *Cluster {
	tb.Helper()
	c, err := start(tb.Context(), opts...)
	if err != nil {
		if errors.Is(err, ErrBinariesNotFound) && os.Getenv(EnvRequireIntegration) != "1" {
			tb.Skip(err)
		}
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Error(err)
		}
	})
	return c
}
