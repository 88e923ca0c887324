package benchmarks

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/login"
)

// BenchmarkLoginMetrics is a login whose first try works (a cache hit, then the try),
// without and with an OpenTelemetry SDK MeterProvider given to the walk: the difference is
// what recording one attempt costs (rotasafe.login.attempts and rotasafe.login.duration,
// two clock reads). Goal: under 1 µs. Compare with `benchstat -col /provider`.
func BenchmarkLoginMetrics(b *testing.B) {
	for _, provider := range []string{"none", "sdk"} {
		b.Run("provider="+provider, func(b *testing.B) {
			_, client := newSM(b, hitID)
			c := cache.New(client, cache.WithTTL(time.Hour), cache.WithLogger(nil))
			b.Cleanup(func() { c.Close() })
			opts := []login.Option{login.WithClient("bench"), login.WithLogger(nil)}
			if provider == "sdk" {
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				b.Cleanup(func() { mp.Shutdown(context.Background()) })
				opts = append(opts, login.WithMeterProvider(mp))
			}
			w := login.New(c, hitID, opts...)
			// A deadline, as a pool's connects usually have: without one the Login makes its own.
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			b.Cleanup(cancel)
			try := func(context.Context, rotasafe.Version) error { return nil }
			if _, err := w.Login(ctx, try); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			report := threadCPU(b)
			for b.Loop() {
				if _, err := w.Login(ctx, try); err != nil {
					b.Fatal(err)
				}
			}
			report()
		})
	}
}
