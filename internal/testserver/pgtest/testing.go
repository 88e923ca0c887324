package pgtest

import (
	"context"
	"testing"

	"github.com/rotasafe/rotasafe/internal/testserver"
)

// New starts a cluster for a test or benchmark and closes it when the test
// ends (tb.Cleanup). Without the server binaries it skips the test with a
// message that says what to install, or fails it when
// ROTASAFE_REQUIRE_INTEGRATION=1. Any other error fails the test.
func New(tb testing.TB, opts ...Option) *Cluster {
	tb.Helper()
	return testserver.New(tb, func(ctx context.Context) (*Cluster, error) { return Start(ctx, opts...) })
}

// shared is the cluster of Shared.
var shared = testserver.Shared[*Cluster]{Start: func(ctx context.Context) (*Cluster, error) {
	return Start(ctx, WithMaxConnections(300))
}}

// Shared returns one cluster (with 300 connections) for every test of the test binary that
// does not stop its server, started on first use; each test makes its own roles on it.
// Without the server binaries it skips tb, or fails it when ROTASAFE_REQUIRE_INTEGRATION=1.
// Call CloseShared from TestMain after m.Run.
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	return shared.Get(tb)
}

// CloseShared closes the cluster of Shared, if one was started.
func CloseShared() error { return shared.Close() }
