// Package metrics checks rotasafe's OpenTelemetry metrics end to end (issue 22); it has no
// non-test code. Its test installs the SDK with a ManualReader as the global MeterProvider,
// rotates secrets under load through sqlconn, pgxpoolconn and redisconn against real
// PostgreSQL and Redis servers and smtest, and compares what the instruments recorded with
// what the servers saw and what Stats counted.
package metrics
