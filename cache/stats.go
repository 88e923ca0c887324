package cache

import "sync/atomic"

// Stats counts what a Cache did since New. Read it with Cache.Stats.
type Stats struct {
	Hits        uint64 // reads answered from the cache without waiting (stale reads excluded)
	Misses      uint64 // reads that waited for a GetSecretValue
	Refreshes   uint64 // fetches that replaced a cached version (background, expiry or forced)
	APICalls    uint64 // GetSecretValue calls made
	Errors      uint64 // GetSecretValue calls that failed
	StaleServed uint64 // reads answered with a version past its expiry while Secrets Manager failed
	Evictions   uint64 // entries dropped to keep within MaxEntries
	Parses      uint64 // parse functions run by Parsed and GetParsed
}

// counters holds the Stats counters except Hits, which live on the entries so that
// concurrent hits on different secrets do not contend on one cache line.
type counters struct {
	misses, refreshes, apiCalls, errors, stale, evictions, parses atomic.Uint64
}

// Stats returns the counters. It is safe to call concurrently with everything else; the
// counters are read one by one, not as one snapshot.
func (c *Cache) Stats() Stats {
	hits := c.retire.Load()
	sum := func(_, v any) bool {
		hits += v.(*entry).hits.Load()
		return true
	}
	c.mu.Lock() // entries move from the maps to retire under mu
	c.current.Range(sum)
	c.others.Range(sum)
	c.mu.Unlock()
	return Stats{
		Hits:        hits,
		Misses:      c.st.misses.Load(),
		Refreshes:   c.st.refreshes.Load(),
		APICalls:    c.st.apiCalls.Load(),
		Errors:      c.st.errors.Load(),
		StaleServed: c.st.stale.Load(),
		Evictions:   c.st.evictions.Load(),
		Parses:      c.st.parses.Load(),
	}
}

// Len returns the number of (secret ID, stage) entries the cache holds, at most MaxEntries.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
