package cache

import (
	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/stagecount"
	"sync/atomic"
	"unsafe"
)

// Stats counts what a Cache did since New. Read it with Cache.Stats.
type Stats struct {
	Hits      uint64 // reads answered from the cache without waiting (stale reads excluded)
	Misses    uint64 // reads that waited for a GetSecretValue
	Refreshes uint64 // fetches that replaced a cached version (background, expiry or forced)
	APICalls  uint64 // GetSecretValue calls made
	// Reads counts the GetSecretValue calls by the staging label asked for: what a rotation
	// cost shows in Pending (one read per rejected version) and Previous.
	Reads       rotasafe.StageCounts
	Errors      uint64 // GetSecretValue calls that failed
	StaleServed uint64 // reads answered with a version past its expiry while Secrets Manager failed
	Evictions   uint64 // entries dropped to keep within MaxEntries
	Parses      uint64 // parse functions run by Parsed and GetParsed
	Notices     uint64 // rotation notices received (WithNotices)
	Holds       uint64 // holds of new logins begun on password-changing notices (WithNoticeHold)
}

// counters holds the Stats counters but Hits. They change on the slow path only.
type counters struct {
	misses, refreshes, apiCalls, errors, stale, evictions, parses atomic.Uint64
	reads                                                         stagecount.Counters
}

// hitStripeBits sets the number of hit counters, 1<<hitStripeBits; a hit adds to the one
// its goroutine maps to. Two goroutines share a stripe with a chance of one in that number.
const hitStripeBits = 6

// hitCounter counts hits on stripes of their own cache lines, so that goroutines reading
// the same secret on different cores do not all write one word: a shared counter would cost
// a hit more than the rest of it on a many-core machine.
type hitCounter [1 << hitStripeBits]struct {
	n atomic.Uint64
	_ [56]byte
}

// inc counts a hit on the stripe picked by the address of the calling goroutine's stack:
// goroutines have stacks of their own, so readers on different cores mostly count on
// different cache lines, where one shared counter would make each hit wait for the line to
// come from the core that counted last. A stack is at least 2 KiB and aligned to its size,
// so the address's bits from 11 up differ between any two live goroutines; they are hashed,
// since nearby stacks differ only in their low bits. (Taking bits 13 up, as this did, put
// four 2 KiB stacks on one stripe: two goroutines of a parallel benchmark shared a stripe
// in one run out of three.) The address is only a number here; nothing is read through it.
func (h *hitCounter) inc() {
	var x byte
	h[hitStripe(uintptr(unsafe.Pointer(&x)))].n.Add(1)
}

// hitStripe is the stripe of a stack address: its 2 KiB window, Fibonacci-hashed.
func hitStripe(addr uintptr) uint64 {
	return uint64(addr>>11) * 0x9e3779b97f4a7c15 >> (64 - hitStripeBits)
}

func (h *hitCounter) load() uint64 {
	var sum uint64
	for i := range h {
		sum += h[i].n.Load()
	}
	return sum
}

// Stats returns the counters. It is safe to call concurrently with everything else; the
// counters are read one by one, not as one snapshot.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits:        c.hits.load(),
		Misses:      c.st.misses.Load(),
		Refreshes:   c.st.refreshes.Load(),
		APICalls:    c.st.apiCalls.Load(),
		Reads:       c.st.reads.Load(),
		Errors:      c.st.errors.Load(),
		StaleServed: c.st.stale.Load(),
		Evictions:   c.st.evictions.Load(),
		Parses:      c.st.parses.Load(),
		Notices:     c.noticesReceived(),
		Holds:       c.noticeHolds(),
	}
}

// Len returns the number of (secret ID, stage) entries the cache holds, at most MaxEntries.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
