package telemetry

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
)

// newProvider returns an SDK MeterProvider read by a ManualReader, shut down when t ends.
func newProvider(t testing.TB) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(t.Context()) })
	return mp, r
}

// collect reads r and returns its metrics by name, failing t unless they all come from one
// instrumentation scope named scope.
func collect(t testing.TB, r *sdkmetric.ManualReader, scope string) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(t.Context(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	got := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != scope {
			t.Errorf("scope %q, want %q", sm.Scope.Name, scope)
		}
		for _, m := range sm.Metrics {
			got[m.Name] = m
		}
	}
	return got
}

// assertMetric fails t unless got holds want (name, description, unit and every data point
// with its attributes and value; timestamps ignored).
func assertMetric(t testing.TB, got map[string]metricdata.Metrics, want metricdata.Metrics) {
	t.Helper()
	m, ok := got[want.Name]
	if !ok {
		t.Errorf("no metric %s", want.Name)
		return
	}
	metricdatatest.AssertEqual(t, want, m, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// sum is a cumulative monotonic sum with pts.
func sum(pts ...metricdata.DataPoint[int64]) metricdata.Sum[int64] {
	return metricdata.Sum[int64]{DataPoints: pts, Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
}

// point is one int64 data point.
func point(v int64, kvs ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(kvs...), Value: v}
}

// hist is a cumulative histogram with pts.
func hist(pts ...metricdata.HistogramDataPoint[float64]) metricdata.Histogram[float64] {
	return metricdata.Histogram[float64]{DataPoints: pts, Temporality: metricdata.CumulativeTemporality}
}

// hpoint is one histogram data point over bounds of the values vs.
func hpoint(bounds []float64, vs []float64, kvs ...attribute.KeyValue) metricdata.HistogramDataPoint[float64] {
	p := metricdata.HistogramDataPoint[float64]{
		Attributes:   attribute.NewSet(kvs...),
		Bounds:       bounds,
		BucketCounts: make([]uint64, len(bounds)+1),
		Count:        uint64(len(vs)),
		Min:          metricdata.NewExtrema(vs[0]),
		Max:          metricdata.NewExtrema(vs[0]),
	}
	for _, v := range vs {
		p.Sum += v
		p.Min = metricdata.NewExtrema(min(v, mustExtrema(p.Min)))
		p.Max = metricdata.NewExtrema(max(v, mustExtrema(p.Max)))
		i := 0
		for i < len(bounds) && v > bounds[i] {
			i++
		}
		p.BucketCounts[i]++
	}
	return p
}

func mustExtrema(e metricdata.Extrema[float64]) float64 {
	v, _ := e.Value()
	return v
}
