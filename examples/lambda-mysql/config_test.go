package main

import (
	"testing"

	"github.com/rotasafe/rotasafe/examples/internal/lambdaenv/strategytest"
)

// The settings are lambdaenv's, tested there; this function adds its strategies.
func TestStrategies(t *testing.T) { strategytest.Run(t, strategies) }
