// Package memo keeps what is built from a secret version (its parsed JSON, a driver's
// connector, TLS settings) so that each login or read does not build it again. It is the one
// memo behind cache.Parsed and the clients: a Cell builds a value once, and a Map holds a
// bounded set of Cells by key.
//
//	var conns memo.Map[string, driver.Connector] // by version ID
//	dc, err := conns.Get(v.ID, func() (driver.Connector, error) { return build(v) })
//
// A hit is an atomic load and a sync.Map lookup: no lock, no allocation.
package memo

import (
	"sync"
	"sync/atomic"
)

// Cell is a value built once. Its zero value is ready; it is safe for concurrent use.
type Cell[V any] struct {
	mu   sync.Mutex  // serialises builds, so that concurrent callers wait for one
	done atomic.Bool // set once val and err are
	val  V
	err  error
}

// Get returns the value build made, running build on first use while other callers wait
// for it. An error is kept, and returned by every later Get, when keepErr is set (a value
// that fails to parse once fails every time); otherwise the next Get builds again. A build
// that panics leaves the Cell as it was.
func (c *Cell[V]) Get(build func() (V, error), keepErr bool) (V, error) {
	if c.done.Load() {
		return c.val, c.err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done.Load() {
		return c.val, c.err
	}
	v, err := build()
	if err != nil {
		var zero V
		if !keepErr {
			return zero, err
		}
		v = zero
	}
	c.val, c.err = v, err
	c.done.Store(true)
	return v, err
}

// Map holds one Cell per key. Its zero value is ready, unbounded and keeps no errors; set
// Max and KeepErrors before the first Get. It is safe for concurrent use.
type Map[K comparable, V any] struct {
	// Max bounds the number of keys: a Get that would add a key to a full Map starts afresh,
	// dropping every Cell, so that the next Gets rebuild the few values still in use. Zero
	// means no bound.
	Max int
	// KeepErrors keeps a failed build's error for its key (see Cell.Get).
	KeepErrors bool

	t atomic.Pointer[table]
}

type table struct {
	cells sync.Map     // K -> *Cell[V]
	n     atomic.Int64 // keys added
}

// Get returns the value of k, running build on first use.
func (m *Map[K, V]) Get(k K, build func() (V, error)) (V, error) {
	return m.Cell(k).Get(build, m.KeepErrors)
}

// Cell returns the Cell of k, adding it (and starting afresh when the Map is full).
func (m *Map[K, V]) Cell(k K) *Cell[V] {
	t := m.t.Load()
	if t != nil {
		if c, ok := t.cells.Load(k); ok {
			return c.(*Cell[V])
		}
	}
	return m.add(t, k)
}

func (m *Map[K, V]) add(t *table, k K) *Cell[V] {
	for {
		if t != nil && (m.Max <= 0 || t.n.Load() < int64(m.Max)) {
			c, loaded := t.cells.LoadOrStore(k, new(Cell[V]))
			if !loaded {
				t.n.Add(1)
			}
			return c.(*Cell[V])
		}
		if fresh := new(table); m.t.CompareAndSwap(t, fresh) {
			t = fresh
		} else {
			t = m.t.Load()
		}
	}
}
