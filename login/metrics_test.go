package login_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/telemetry"
	"github.com/rotasafe/rotasafe/internal/telemetry/metrictest"
	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/retry"
)

// TestMetrics checks that every attempt Stats counts is recorded with the client's name,
// the stage of the version tried and its outcome: a rotation's rejection and fallback, a
// transient failure, and the rejected login a Recover takes over (counted, not timed).
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	m := metrictest.New(t)
	w := e.walker(login.WithMeterProvider(m.Provider), login.WithClient("mine"),
		login.WithRetry(retry.Policy{Initial: time.Millisecond, Max: time.Millisecond, MaxAttempts: 5}))
	e.mustLogin(w, "pw-1")
	v2 := e.put("pw-2", rotasafe.StagePending)
	e.setPassword("pw-2")
	e.mustLogin(w, "pw-2") // AWSCURRENT rejected, AWSPENDING logs in
	e.promote(v2)
	failed := false
	if _, err := w.Login(t.Context(), func(ctx context.Context, v rotasafe.Version) error {
		if !failed {
			failed = true
			return login.Transient(errors.New("connection refused"))
		}
		return e.try(ctx, v)
	}); err != nil {
		t.Fatal(err)
	}
	used, err := w.Choose(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e.put("pw-3", rotasafe.StagePending)
	e.setPassword("pw-3")
	if _, err := w.Recover(t.Context(), used, errRejected, e.try); err != nil {
		t.Fatal(err)
	}

	got, st := m.Collect(t), w.Stats()
	client, secret := telemetry.KeyClient.String("mine"), telemetry.KeySecret.String(id)
	stage, out := telemetry.KeyStage.String, telemetry.KeyOutcome.String
	const attempts = "rotasafe.login.attempts"
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"attempts = Stats().Logins", got.Sum(attempts, client, secret), st.Logins},
		{"rejected AWSCURRENT = Stats()", got.Sum(attempts, stage(rotasafe.StageCurrent), out("rejected")), st.Rejected.Current},
		{"rejected AWSPENDING = Stats()", got.Sum(attempts, stage(rotasafe.StagePending), out("rejected")), st.Rejected.Pending},
		{"rejected", got.Sum(attempts, out("rejected")), st.Rejected.Total()},
		{"rejected: the rotation's and the Recover's", st.Rejected.Total(), 2},
		{"transient", got.Sum(attempts, out("transient")), 1},
		{"ok = Stats().Connects", got.Sum(attempts, out("ok")), st.Connects},
		{"timed: all but the Recover's", int64(got.Count("rotasafe.login.duration", client, secret)), st.Logins - 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
	if s := got.Scopes()[attempts]; s != "github.com/rotasafe/rotasafe/login" {
		t.Errorf("scope: got %q, want the package's import path", s)
	}
}
