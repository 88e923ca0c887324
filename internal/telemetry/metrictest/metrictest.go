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
	for _, d := range c.data(name) {
		if s, ok := d.(metricdata.Sum[int64]); ok {
			for _, p := range s.DataPoints {
				if has(p.Attributes, kvs) {
					n += p.Value
				}
			}
		}
	}
	return n
}

// Count adds up the counts of the histogram points of instrument name whose attributes
// include every one of kvs.
func (c Collected) Count(name string, kvs ...attribute.KeyValue) uint64 {
	var n uint64
	for _, d := range c.data(name) {
		if h, ok := d.(metricdata.Histogram[float64]); ok {
			for _, p := range h.DataPoints {
				if has(p.Attributes, kvs) {
					n += p.Count
				}
			}
		}
	}
	return n
}

// data returns what instrument name recorded, in every scope that has it.
func (c Collected) data(name string) []metricdata.Aggregation {
	var ds []metricdata.Aggregation
	for _, sm := range c {
		for _, m := range sm.Metrics {
			if m.Name == name {
				ds = append(ds, m.Data)
			}
		}
	}
	return ds
}

// Attributes returns every attribute of every point of every instrument.
func (c Collected) Attributes() []attribute.KeyValue {
	var all []attribute.KeyValue
	add := func(s attribute.Set) { all = append(all, s.ToSlice()...) }
	for _, sm := range c {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					add(p.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					add(p.Attributes)
				}
			}
		}
	}
	return all
}

func has(set attribute.Set, kvs []attribute.KeyValue) bool {
	for _, kv := range kvs {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}
