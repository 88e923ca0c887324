package telemetry

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/rotasafe/rotasafe"
)

// providers are the MeterProviders the recorders are measured with: OpenTelemetry's no-op
// (what a library user without an SDK gets) and the SDK with a reader.
func providers(b *testing.B) []struct {
	name string
	mp   metric.MeterProvider
} {
	sdk, _ := newProvider(b)
	return []struct {
		name string
		mp   metric.MeterProvider
	}{{"provider=noop", noop.NewMeterProvider()}, {"provider=sdk", sdk}}
}

// BenchmarkLoginAttempt is the instrumentation of one login attempt: a counter and a
// histogram, on a series that exists.
func BenchmarkLoginAttempt(b *testing.B) {
	for _, p := range providers(b) {
		b.Run(p.name, func(b *testing.B) {
			rec := NewLogin(p.mp, loginScope).For("sqlconn", secret)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				rec.Attempt(ctx, rotasafe.StagePending, LoginRejected, 3*time.Millisecond)
			}
		})
	}
}

// BenchmarkLoginAttemptParallel is BenchmarkLoginAttempt from every core at once, as a
// pool's openers log in.
func BenchmarkLoginAttemptParallel(b *testing.B) {
	for _, p := range providers(b) {
		b.Run(p.name, func(b *testing.B) {
			rec := NewLogin(p.mp, loginScope).For("sqlconn", secret)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					rec.Attempt(ctx, rotasafe.StageCurrent, LoginOK, 3*time.Millisecond)
				}
			})
		})
	}
}

// BenchmarkCacheRead is the instrumentation of one GetSecretValue call.
func BenchmarkCacheRead(b *testing.B) {
	for _, p := range providers(b) {
		b.Run(p.name, func(b *testing.B) {
			e := NewCache(p.mp, cacheScope).Entry(secret, rotasafe.StageCurrent)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				e.Read(ctx, ReadOK, 20*time.Millisecond)
			}
		})
	}
}
