package cache_test

import (
	"path/filepath"
	"runtime"
	"strings"

	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
)

// cacheGoroutines returns the stacks of the goroutines running code of package cache (a
// frame in one of its non-test files). Counting these, rather than runtime.NumGoroutine, is
// immune to the runtime's own goroutines (cleanups), to the HTTP client's idle connections
// and to paused parallel tests.
func cacheGoroutines() []string {
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Dir(self) + string(filepath.Separator)
	return fixture.Goroutines(func(stack string) bool {
		for line := range strings.SplitSeq(stack, "\n") {
			if strings.Contains(line, dir) && !strings.Contains(line, "_test.go:") {
				return true
			}
		}
		return false
	})
}
