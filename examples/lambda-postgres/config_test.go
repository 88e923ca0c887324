package main

import (
	"testing"

	"github.com/rotasafe/rotasafe/examples/internal/lambdaenv"
)

// TestStrategies builds the handler for every ROTATION_STRATEGY the function offers (the
// settings themselves are lambdaenv's, tested there), and refuses a clone suffix to all but
// ALTERNATING_USERS, the one strategy with a second user.
func TestStrategies(t *testing.T) {
	for _, name := range lambdaenv.Names(strategies) {
		env := map[string]string{"ROTATION_STRATEGY": name, "CLONE_SUFFIX": "_b"}
		h, err := lambdaenv.Handler(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, strategies)
		if clone := name == "ALTERNATING_USERS"; clone != (err == nil) || clone && h == nil {
			t.Errorf("%s with a clone suffix: got %v, want an error unless it has a clone", name, err)
		}
	}
}
