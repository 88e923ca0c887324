package cache_test

import (
	"bytes"
	"runtime"
)

// cacheGoroutines returns the stacks of the goroutines running code of package cache (not of
// its tests). Counting these, rather than runtime.NumGoroutine, is immune to the runtime's
// own goroutines (cleanups) and to the HTTP client's idle connections.
func cacheGoroutines() []string {
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
		if bytes.Contains(g, []byte("rotasafe/rotasafe/cache.")) {
			out = append(out, string(g))
		}
	}
	return out
}
