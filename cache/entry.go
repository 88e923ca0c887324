package cache

import (
	"sync"
	"sync/atomic"

	"github.com/cenkalti/backoff/v4"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/telemetry"
)

// maxRereads bounds the forced fetches an entry remembers by reason: a secret has a few
// versions that matter at a time, and a reason pushed out only costs one more call.
const maxRereads = 4

// entry is one (secret ID, stage) slot. Readers load snap; everything else changes under mu
// on the slow path.
type entry struct {
	key  key
	snap atomic.Pointer[snapshot] // nil until the first answer
	tm   *telemetry.CacheEntry    // records its reads and stale answers; set once, by Cache.entry
	// retryAt is the instant (ns since epoch) before which no fetch follows a transient
	// failure; 0 when the last fetch succeeded. Written under mu, read without it.
	retryAt atomic.Int64

	mu          sync.Mutex      // guards the fields below and the settled field of calls
	call        *call           // the normal fetch in flight, nil if none
	rereads     []reread        // recent forced fetches by reason, oldest first, at most maxRereads
	failures    int             // consecutive failed fetches
	waits       backoff.BackOff // the failure backoff of this episode
	lastErr     error           // the last transient failure, nil once a fetch succeeds or fails for good
	staleLogged bool            // this failure episode was logged

	gone bool // evicted or dropped at Close; guarded by Cache.mu
}

// snapshot is an immutable answer: a version, or an error remembered for its lifetime
// (a missing stage, a denied access).
type snapshot struct {
	v         rotasafe.Version
	err       error
	started   int64 // ns since epoch, when the fetch that gave it started: a later start is a newer answer
	refreshAt int64 // from here a read refreshes in the background
	expireAt  int64 // from here a read waits for a fetch (or is served stale)
	memo      *memo // parsed values of v; nil for errors and evicted entries
}

// call is one GetSecretValue shared by every caller that asks while it runs. done is closed
// once snap and err are set.
type call struct {
	done    chan struct{}
	started int64     // ns since epoch
	why     reason    // why it runs: a normal fetch or a forced read
	settled bool      // the answer is in; guarded by the entry's mu
	snap    *snapshot // on success, or the remembered error snapshot
	err     error     // on failure
}

// reason says why a fetch of an entry runs. The zero value is a normal fetch (a miss, an
// expiry, a refresh ahead), which every caller joins while it runs; the others are forced
// reads, remembered by reason and floored (see Cache.reread).
type reason struct {
	kind    reasonKind
	version string // kind rejected: the ID of the version whose login was rejected
}

// reasonKind is the kind of a reason.
type reasonKind uint8

const (
	normal   reasonKind = iota // the cached answer is missing, expired or near expiry
	refresh                    // Refresh: read AWSCURRENT now, whatever is cached
	rejected                   // Reread: a login with reason.version was rejected
)

// forced reports whether r is a forced read rather than a normal fetch.
func (r reason) forced() bool { return r.kind != normal }

// rejects reports whether r is the rejection of version id.
func (r reason) rejects(id string) bool { return r.kind == rejected && r.version == id }

// reread is a forced fetch and the reason it was made.
type reread struct {
	why  reason
	call *call
}
