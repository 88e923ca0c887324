package benchmarks

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU starts measuring the CPU time of the calling goroutine, which it locks to its
// thread; the returned func reports it per op as cpu-ns/op. On a machine shared with other
// jobs, wall-clock ns/op counts the time the thread waited for a core; CPU time does not.
// For serial benchmarks only.
func threadCPU(b *testing.B) (report func()) {
	runtime.LockOSThread()
	start := cpuNow()
	return func() {
		d := cpuNow() - start
		runtime.UnlockOSThread()
		b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
