package walk

import (
	"sync"

	"github.com/rotasafe/rotasafe"
)

// maxMemo bounds a Memo: a secret has at most three labelled versions that matter at a time.
const maxMemo = 8

// Memo keeps what a client builds from each version of a secret (its parsed credentials, a
// driver connector), so that logins reuse it. Its zero value is ready; it is safe for
// concurrent use. Build errors are not kept: they name the version, never its value.
type Memo[T any] struct {
	mu sync.Mutex
	m  map[string]T // by version ID
}

// Get returns what build made of v, building it on first use. When the Memo is full it
// starts afresh: the next logins rebuild the one or two versions in use.
func (m *Memo[T]) Get(v rotasafe.Version, build func(rotasafe.Version) (T, error)) (T, error) {
	m.mu.Lock()
	x, ok := m.m[v.ID]
	m.mu.Unlock()
	if ok {
		return x, nil
	}
	x, err := build(v)
	if err != nil {
		return x, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.m[v.ID]; ok {
		return old, nil
	}
	if m.m == nil || len(m.m) >= maxMemo {
		m.m = make(map[string]T, 4)
	}
	m.m[v.ID] = x
	return x, nil
}
