package mysqltest

import (
	"context"
	"strings"
	"testing"

	"github.com/rotasafe/rotasafe/internal/testserver"
)

// New starts a server for a test or benchmark and closes it when the test ends (tb.Cleanup).
// Without the server binaries it skips the test with a message that says what to install, or
// fails it when ROTASAFE_REQUIRE_INTEGRATION=1. Any other error fails the test.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	return testserver.New(tb, func(ctx context.Context) (*Server, error) { return Start(ctx, opts...) })
}

// CheckLogs fails tb if the server's general log or error log holds any of secrets, naming
// the log and the secret's position in the list, never the secret. Empty secrets are ignored.
// On an external server, which has no logs to read, it only notes that in the test log.
func (s *Server) CheckLogs(tb testing.TB, secrets ...string) {
	tb.Helper()
	if s.external {
		tb.Log("mysqltest: external server: no logs to search for secrets")
		return
	}
	for _, read := range []struct {
		name string
		fn   func() (string, error)
	}{{"general log", s.ReadGeneralLog}, {"error log", s.ReadErrorLog}} {
		log, err := read.fn()
		if err != nil {
			tb.Error(err)
			continue
		}
		for i, secret := range secrets {
			if secret != "" && strings.Contains(log, secret) {
				tb.Errorf("mysqltest: the %s holds secret #%d (of %d)", read.name, i, len(secrets))
			}
		}
	}
}
