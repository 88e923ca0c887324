// Package benchmarks measures rotasafe side by side with the libraries a Go service would
// otherwise use (aws-secretsmanager-caching-go v2.2.0, a Secrets Manager Agent style sidecar,
// a bare sync.Map as the floor), in one run, on one machine. It is its own module so that the
// peers never enter the library's go.mod.
//
// The benchmarks are ordinary Go benchmarks with sub-benchmarks named impl=rotasafe,
// impl=cachinggo, impl=sidecar, impl=syncmap, ...; `go run ./cmd/report` runs them all and
// writes BENCHMARKS.md and its charts. Those that need PostgreSQL start a throw-away cluster
// through internal/testserver/pgtest and skip without the server binaries.
package benchmarks
