package cache_test

import (
	"bytes"
	"path/filepath"
	"runtime"
)

// cacheGoroutines returns the stacks of the goroutines running code of package cache (a
// frame in one of its non-test files). Counting these, rather than runtime.NumGoroutine, is
// immune to the runtime's own goroutines (cleanups), to the HTTP client's idle connections
// and to paused parallel tests.
func cacheGoroutines() []string {
	_, self, _, _ := runtime.Caller(0)
	dir := []byte(filepath.Dir(self) + string(filepath.Separator))
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		for line := range bytes.SplitSeq(g, []byte("\n")) {
			if bytes.Contains(line, dir) && !bytes.Contains(line, []byte("_test.go:")) {
				out = append(out, string(g))
				break
			}
		}
	}
	return out
}
