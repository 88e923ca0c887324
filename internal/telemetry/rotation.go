package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/notice"
)

// Rotation holds the instruments of a rotation handler:
//
//	rotasafe.rotation.steps          {step}   secret, step, outcome (ok, error)
//	rotasafe.rotation.step.duration  s        secret, step
//	rotasafe.notices.published       {notice} secret, notice.kind
//
// A step runs for seconds and a handler rotates few secrets, so its recorders build their
// attribute sets per call. It is safe for concurrent use.
type Rotation struct {
	steps     metric.Int64Counter
	duration  metric.Float64Histogram
	published metric.Int64Counter
}

// NewRotation returns the instruments of a rotation handler, made by mp's meter for scope
// (the rotate package's import path); nil mp means the global MeterProvider.
func NewRotation(mp metric.MeterProvider, scope string) *Rotation {
	m := meter(mp, scope)
	return &Rotation{
		steps: counter(m, "rotasafe.rotation.steps", "{step}", "Rotation steps the handler ran, by step and outcome."),
		duration: histogram(m, "rotasafe.rotation.step.duration", "How long each rotation step took, by step.",
			stepBuckets),
		published: counter(m, "rotasafe.notices.published", "{notice}", "Rotation notices the handler published."),
	}
}

// Step records one run of step (a rotasafe.Step* name; any other counts as "other") on
// secret (the ID the event named) that took d and failed with err, nil when it succeeded.
func (r *Rotation) Step(ctx context.Context, secret, step string, err error, d time.Duration) {
	s, st := KeySecret.String(secret), KeyStep.String(stepName(step))
	out := "ok"
	if err != nil {
		out = "error"
	}
	r.steps.Add(ctx, 1, metric.WithAttributes(s, st, KeyOutcome.String(out)))
	r.duration.Record(ctx, d.Seconds(), metric.WithAttributes(s, st))
}

// NoticePublished records a rotation notice of kind about secret that reached the
// publisher without error.
func (r *Rotation) NoticePublished(ctx context.Context, secret string, kind notice.Kind) {
	r.published.Add(ctx, 1, metric.WithAttributes(KeySecret.String(secret), noticeKind(kind)))
}

// stepName returns the KeyStep value of step: one of the four steps, or "other".
func stepName(step string) string {
	switch step {
	case rotasafe.StepCreateSecret, rotasafe.StepSetSecret, rotasafe.StepTestSecret, rotasafe.StepFinishSecret:
		return step
	}
	return "other"
}
