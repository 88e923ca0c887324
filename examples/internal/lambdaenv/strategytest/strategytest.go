// Package strategytest checks the strategies of a rotation function under examples/ from
// its tests, apart from lambdaenv so that the functions' binaries do not link package
// testing.
package strategytest

import (
	"testing"

	"github.com/rotasafe/rotasafe/examples/internal/lambdaenv"
)

// Run checks a function's strategies: every ROTATION_STRATEGY it offers builds a handler,
// and a clone suffix is refused by all but ALTERNATING_USERS, the one strategy with a second
// user.
func Run(t *testing.T, strategies map[string]lambdaenv.Strategy) {
	t.Helper()
	for _, name := range lambdaenv.Names(strategies) {
		env := map[string]string{"ROTATION_STRATEGY": name, "CLONE_SUFFIX": "_b"}
		h, err := lambdaenv.Handler(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, strategies)
		if clone := name == "ALTERNATING_USERS"; clone != (err == nil) || clone && h == nil {
			t.Errorf("%s with a clone suffix: got %v, want an error unless it has a clone", name, err)
		}
	}
}
