package mysqltest

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// EnvRequireIntegration names the environment variable that, set to 1, turns the skip New
// does without server binaries into a failure.
const EnvRequireIntegration = "ROTASAFE_REQUIRE_INTEGRATION"

// New starts a server for a test or benchmark and closes it when the test ends (tb.Cleanup).
// Without the server binaries it skips the test with a message that says what to install, or
// fails it when ROTASAFE_REQUIRE_INTEGRATION=1. Any other error fails the test.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	return newTB(tb, Start, opts)
}

// newTB is New with the start function as a parameter, for its own tests.
func newTB(tb testing.TB, start func(context.Context, ...Option) (*Server, error), opts []Option) *Server {
	tb.Helper()
	s, err := start(tb.Context(), opts...)
	if err != nil {
		if errors.Is(err, ErrBinariesNotFound) && os.Getenv(EnvRequireIntegration) != "1" {
			tb.Skip(err)
		}
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
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
