package fleet

import (
	"testing"
	"time"
)

// TestRun runs a small fleet of each strategy and checks the accounting holds together:
// calls were counted, the rotation was noticed, and throttled calls are among the calls.
func TestRun(t *testing.T) {
	for _, s := range []Strategy{Rotasafe, Baseline} {
		t.Run(string(s), func(t *testing.T) {
			t.Parallel()
			res, err := Run(t.Context(), Config{Instances: 20, Strategy: s, Duration: 1500 * time.Millisecond,
				RotateAt: 300 * time.Millisecond, Window: 300 * time.Millisecond, ConnectRate: 10, Dilation: 0.5})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: calls %d (peak %d/s), throttled %d, connects %d, failures %d", s,
				res.TotalCalls, res.PeakPerSecond, res.TotalThrottled, res.Connects, res.Failures)
			if res.TotalCalls == 0 {
				t.Fatal("got no Secrets Manager calls after the rotation, want some")
			}
			if res.TotalThrottled > res.TotalCalls || res.PeakPerSecond > res.TotalCalls {
				t.Fatalf("got throttled %d and peak %d of %d calls", res.TotalThrottled, res.PeakPerSecond, res.TotalCalls)
			}
			if res.Connects == 0 || res.Failures > res.Connects {
				t.Fatalf("got %d failures of %d connects", res.Failures, res.Connects)
			}
		})
	}
}

// TestExpiry: with the fleet's values expiring inside the run, both strategies fetch the new
// AWSCURRENT, and no connect fails since the old credentials keep working.
func TestExpiry(t *testing.T) {
	for _, s := range []Strategy{Rotasafe, Baseline} {
		t.Run(string(s), func(t *testing.T) {
			t.Parallel()
			res, err := Run(t.Context(), Config{Instances: 20, Strategy: s, Scenario: Expiry, Duration: 8 * time.Second,
				Dilation: 0.25})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: calls %d (peak %d/s), throttled %d, connects %d, failures %d", s,
				res.TotalCalls, res.PeakPerSecond, res.TotalThrottled, res.Connects, res.Failures)
			if res.TotalCalls < 20 {
				t.Fatalf("got %d Secrets Manager calls, want at least one per instance (its value expired)", res.TotalCalls)
			}
			if res.Failures != 0 {
				t.Fatalf("got %d failed connects, want none: the old credentials still work", res.Failures)
			}
		})
	}
}
