// Package metrictest reads back what rotasafe's packages record through OpenTelemetry, for
// tests: an SDK MeterProvider with a ManualReader, and sums and counts of the rotasafe.*
// instruments by attribute. It is test tooling; no production package imports it.
//
//	m := metrictest.New(t)
//	c := cache.New(api, cache.WithMeterProvider(m.Provider))
//	...
//	got := m.Collect(t)
//	reads := got.Sum("rotasafe.cache.reads", telemetry.KeyStage.String(rotasafe.StagePending))
package metrictest

import (
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Meter is an SDK MeterProvider and the ManualReader that collects from it.
type Meter struct {
	Provider *sdkmetric.MeterProvider
	reader   *sdkmetric.ManualReader
}

// New returns a Meter whose provider is shut down when tb ends.
func New(tb testing.TB) *Meter {
	tb.Helper()
	r := sdkmetric.NewManualReader()
	m := &Meter{Provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)), reader: r}
	tb.Cleanup(func() { _ = m.Provider.Shutdown(tb.Context()) })
	return m
}

// Collect reads every instrument now.
func (m *Meter) Collect(tb testing.TB) Collected {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(tb.Context(), &rm); err != nil {
		tb.Fatalf("metrictest: Collect: %v", err)
	}
	return Collected(rm.ScopeMetrics)
}

// Collected is what one Collect read, by instrumentation scope.
type Collected []metricdata.ScopeMetrics

// Scopes returns the instrumentation scope of each instrument, by instrument name.
func (c Collected) Scopes() map[string]string {
	s := map[string]string{}
	for _, sm := range c {
		for _, m := range sm.Metrics {
			s[m.Name] = sm.Scope.Name
		}
	}
	return s
}

// Sum adds up the int64 counter points of instrument name whose attributes include every
// one of kvs.
func (c Collected) Sum(name string, kvs ...attribute.KeyValue) int64 {
	var n int64
	for _, p := range c.points(name, kvs) {
		n += p.value
	}
	return n
}

// Count adds up the counts of the histogram points of instrument name whose attributes
// include every one of kvs.
func (c Collected) Count(name string, kvs ...attribute.KeyValue) uint64 {
	var n uint64
	for _, p := range c.points(name, kvs) {
		n += p.count
	}
	return n
}

// Attributes returns every attribute of every point of every instrument.
func (c Collected) Attributes() []attribute.KeyValue {
	var all []attribute.KeyValue
	for _, p := range c.points("", nil) {
		all = append(all, p.attrs.ToSlice()...)
	}
	return all
}

// point is one data point of an int64 counter (value) or a float64 histogram (count).
type point struct {
	attrs attribute.Set
	value int64
	count uint64
}

// points returns the points of instrument name (of every instrument when name is ""), in
// every scope, whose attributes include every one of kvs.
func (c Collected) points(name string, kvs []attribute.KeyValue) []point {
	var ps []point
	for _, sm := range c {
		for _, m := range sm.Metrics {
			if name != "" && m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					ps = append(ps, point{attrs: p.Attributes, value: p.Value})
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					ps = append(ps, point{attrs: p.Attributes, count: p.Count})
				}
			}
		}
	}
	return slices.DeleteFunc(ps, func(p point) bool { return !has(p.attrs, kvs) })
}

func has(set attribute.Set, kvs []attribute.KeyValue) bool {
	for _, kv := range kvs {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}
