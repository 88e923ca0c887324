package pgtest

import (
	"context"
	"testing"

	"github.com/rotasafe/rotasafe/internal/testserver"
)

// EnvRequireIntegration is testserver.EnvRequireIntegration, for callers of this package.
const EnvRequireIntegration = testserver.EnvRequireIntegration

// New starts a cluster for a test or benchmark and closes it when the test
// ends (tb.Cleanup). Without the server binaries it skips the test with a
// message that says what to install, or fails it when
// ROTASAFE_REQUIRE_INTEGRATION=1. Any other error fails the test.
func New(tb testing.TB, opts ...Option) *Cluster {
	tb.Helper()
	return testserver.New(tb, func(ctx context.Context) (*Cluster, error) { return Start(ctx, opts...) })
}
