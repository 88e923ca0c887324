package telemetry

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Bucket boundaries, in seconds, advised for the duration histograms. The SDK's default
// boundaries (0 to 10000) suit milliseconds; these put a dozen buckets where each duration
// lives.
var (
	// One login attempt: a local connection takes a millisecond, a remote TLS login tens,
	// and an attempt is cut at sqlconn's 10 s connect timeout.
	loginBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	// One GetSecretValue: tens of milliseconds in a region, seconds when the SDK retries,
	// cut at the cache's fetch timeout.
	readBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	// One rotation step: a describe and a put take a fraction of a second, a database step a
	// few seconds, and a Lambda function is cut at 15 minutes.
	stepBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900}
)

// counter returns the Int64Counter name of m.
func counter(m metric.Meter, name, unit, desc string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	return made[metric.Int64Counter](c, err, noop.Int64Counter{})
}

// histogram returns the Float64Histogram name of m, in seconds, with bounds as its advised
// bucket boundaries.
func histogram(m metric.Meter, name, desc string, bounds []float64) metric.Float64Histogram {
	h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(bounds...))
	return made[metric.Float64Histogram](h, err, noop.Float64Histogram{})
}

// observableCounter returns the Int64ObservableCounter name of m.
func observableCounter(m metric.Meter, name, unit, desc string) metric.Int64ObservableCounter {
	c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	return made[metric.Int64ObservableCounter](c, err, noop.Int64ObservableCounter{})
}

// made returns the instrument a Meter made, or noop when it made none. An error (which a valid
// name never causes) goes to OpenTelemetry's error handler, as the SDK expects of
// instrumentation, and recording then goes nowhere rather than failing.
func made[I comparable](i I, err error, noop I) I {
	if err != nil {
		otel.Handle(err)
	}
	var none I
	if i == none {
		return noop
	}
	return i
}
