package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// metricsServer serves the rotasafe.* metrics (-metrics ADDR) in Prometheus's text format,
// as an application that runs OpenTelemetry would: it installs an SDK MeterProvider read by
// OpenTelemetry's Prometheus exporter as the global provider, which rotasafe's packages use
// by default. Names follow the exporter's translation: rotasafe.login.attempts becomes
// rotasafe_login_attempts_total, rotasafe.login.duration rotasafe_login_duration_seconds.
//
//	curl -s http://127.0.0.1:9464/metrics | grep '^rotasafe_'
type metricsServer struct {
	URL string // where to scrape: http://host:port/metrics
	mp  *sdkmetric.MeterProvider
	srv *http.Server
	wg  sync.WaitGroup // the serving goroutine
}

// serveMetrics starts a metricsServer on addr (host:port; port 0 picks one) and installs its
// provider as OpenTelemetry's global MeterProvider. Close stops both.
func serveMetrics(addr string) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &metricsServer{
		URL: "http://" + lis.Addr().String() + "/metrics",
		mp:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
	}
	otel.SetMeterProvider(m.mp)
	m.wg.Go(func() { _ = m.srv.Serve(lis) }) // returns http.ErrServerClosed on Close
	return m, nil
}

// Close stops serving and shuts the provider down.
func (m *metricsServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := errors.Join(m.srv.Shutdown(ctx), m.mp.Shutdown(ctx))
	m.wg.Wait()
	return err
}
