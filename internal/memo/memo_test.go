package memo

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCellBuildsOnce(t *testing.T) {
	var c Cell[int]
	var builds atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			v, err := c.Get(func() (int, error) { builds.Add(1); return 7, nil }, false)
			if v != 7 || err != nil {
				t.Errorf("Get: got %d, %v; want 7, nil", v, err)
			}
		})
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Errorf("builds: got %d, want 1", n)
	}
}

func TestCellErrors(t *testing.T) {
	errBad := errors.New("bad")
	for _, tc := range []struct {
		name    string
		keepErr bool
		builds  int
	}{
		{"kept", true, 1},
		{"not kept", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Cell[int]
			n := 0
			for range 2 {
				if v, err := c.Get(func() (int, error) { n++; return 3, errBad }, tc.keepErr); v != 0 || err != errBad {
					t.Errorf("Get: got %d, %v; want 0, %v", v, err, errBad)
				}
			}
			if n != tc.builds {
				t.Errorf("builds: got %d, want %d", n, tc.builds)
			}
		})
	}
}

func TestCellPanicLeavesItUnset(t *testing.T) {
	var c Cell[int]
	func() {
		defer func() { _ = recover() }()
		_, _ = c.Get(func() (int, error) { panic("boom") }, true)
	}()
	if v, err := c.Get(func() (int, error) { return 1, nil }, true); v != 1 || err != nil {
		t.Errorf("Get after a panicking build: got %d, %v; want 1, nil", v, err)
	}
}

func TestMapBound(t *testing.T) {
	m := Map[string, string]{Max: 2}
	builds := 0
	get := func(k string) {
		t.Helper()
		if v, _ := m.Get(k, func() (string, error) { builds++; return k + "!", nil }); v != k+"!" {
			t.Errorf("Get(%q): got %q", k, v)
		}
	}
	get("a")
	get("b")
	get("a")
	if builds != 2 {
		t.Fatalf("builds: got %d, want 2", builds)
	}
	get("c") // full: starts afresh
	get("a")
	if builds != 4 {
		t.Errorf("builds after the Map filled: got %d, want 4 (c, then a again)", builds)
	}
}

func TestMapHitDoesNotAllocate(t *testing.T) {
	var m Map[string, int]
	build := func() (int, error) { return 1, nil }
	_, _ = m.Get("k", build)
	if n := testing.AllocsPerRun(100, func() { _, _ = m.Get("k", build) }); n != 0 {
		t.Errorf("allocations per hit: got %v, want 0", n)
	}
}
