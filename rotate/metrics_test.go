package rotate

import (
	"context"
	"errors"
	"testing"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/telemetry"
	"github.com/rotasafe/rotasafe/internal/telemetry/metrictest"
	"github.com/rotasafe/rotasafe/notice"
)

// TestMetrics checks that each step is recorded once per run with its outcome and duration,
// and each notice once it is published (a publisher's failure is not).
func TestMetrics(t *testing.T) {
	t.Parallel()
	_, c, svc, _ := newKeyEnv(t)
	m := metrictest.New(t)
	pub := publisherFunc(func(_ context.Context, n notice.Notice) error {
		if n.Kind == notice.PasswordChanged {
			return errors.New("broker down")
		}
		return nil
	})
	h := NewHandler(nil, keyStrategy{svc}, WithNotices(pub), WithMeterProvider(m.Provider), WithLogger(nil))
	const rotations = 2
	for i := range rotations {
		if _, err := Rotate(t.Context(), c, t.Name(), h); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
	}
	// Secrets Manager calls a step of a secret without rotation enabled: it fails.
	if err := h.Handle(t.Context(), rotasafe.Event{SecretID: t.Name(), ClientRequestToken: "token", Step: rotasafe.StepSetSecret}); err == nil {
		t.Fatal("a step of a secret without rotation worked")
	}

	got := m.Collect(t)
	secret, step, out := telemetry.KeySecret.String(t.Name()), telemetry.KeyStep.String, telemetry.KeyOutcome.String
	for _, st := range steps {
		if n := got.Sum("rotasafe.rotation.steps", secret, step(st), out("ok")); n != rotations {
			t.Errorf("%s ok: got %d, want %d", st, n, rotations)
		}
	}
	kind := telemetry.KeyNoticeKind.String
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"setSecret error", got.Sum("rotasafe.rotation.steps", secret, step(rotasafe.StepSetSecret), out("error")), 1},
		{"timed steps", int64(got.Count("rotasafe.rotation.step.duration", secret)), 4*rotations + 1},
		{"published pending-stored", got.Sum("rotasafe.notices.published", secret, kind(string(notice.PendingStored))), rotations},
		{"published finished", got.Sum("rotasafe.notices.published", secret, kind(string(notice.Finished))), rotations},
		{"published password-changed (the publisher failed)", got.Sum("rotasafe.notices.published", kind(string(notice.PasswordChanged))), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
	if s := got.Scopes()["rotasafe.rotation.steps"]; s != "github.com/rotasafe/rotasafe/rotate" {
		t.Errorf("scope: got %q, want the package's import path", s)
	}
}
