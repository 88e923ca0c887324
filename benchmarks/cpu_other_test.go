//go:build !linux

package benchmarks

import "testing"

// threadCPU reports nothing where the thread's CPU time is not at hand (see cpu_linux_test.go).
func threadCPU(*testing.B) (report func()) { return func() {} }
