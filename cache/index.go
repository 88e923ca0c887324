package cache

import (
	"maps"
	"sync/atomic"
)

// index maps secret IDs to their AWSCURRENT entries for the hit path: an immutable map
// behind an atomic pointer, so that a lookup is an atomic load and a map access by string,
// cheaper than sync.Map's Load (which hashes and compares its keys as interfaces). A change
// copies the map, under Cache.mu: O(entries), made only when an entry is created or evicted,
// that is on a miss, beside a Secrets Manager call that costs far more.
type index struct {
	m atomic.Pointer[map[string]*entry] // set by clear in New, never nil after; the map is never changed
}

// load returns the entry of id, nil if none.
func (x *index) load(id string) *entry { return (*x.m.Load())[id] }

// all returns the entries by secret ID. The map must not be changed.
func (x *index) all() map[string]*entry { return *x.m.Load() }

// store makes e the entry of id. Cache.mu is held.
func (x *index) store(id string, e *entry) {
	m := make(map[string]*entry, len(x.all())+1)
	maps.Copy(m, x.all())
	m[id] = e
	x.m.Store(&m)
}

// remove drops the entry of id if it is e. Cache.mu is held.
func (x *index) remove(id string, e *entry) {
	if x.all()[id] != e {
		return
	}
	m := maps.Clone(x.all())
	delete(m, id)
	x.m.Store(&m)
}

// clear drops every entry. Cache.mu is held, or New has not returned.
func (x *index) clear() { x.m.Store(&map[string]*entry{}) }
