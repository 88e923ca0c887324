// Package reliability holds the module's end-to-end hardening checks; it has no non-test
// code. Its tests run cache, sqlconn and the rotation strategies together against a real
// PostgreSQL (internal/testserver/pgtest), the real aws-sdk-go-v2 client on smtest, and the rotation
// Lambda under aws-lambda-rie, and check that nothing is lost and no secret leaks under
// faults, crashes and bad input.
//
// The randomised loops run a quick count by default, so that `go test -race ./...` stays
// within a few minutes; ROTASAFE_RELIABILITY_N=full runs each loop's long count (as .ci/run
// does), and an integer sets the count of every loop (see RELIABILITY.md at the module root):
//
//	ROTASAFE_RELIABILITY_N=full go test -race ./tests/reliability
//	ROTASAFE_RELIABILITY_N=200 go test -race -run 'Crash' ./tests/reliability
package reliability
