// Package stagecount counts events by staging label without locks, for the per-label
// figures of cache.Stats and rotasafe.LoginStats. The zero value is ready to use.
package stagecount

import (
	"sync/atomic"

	"github.com/rotasafe/rotasafe"
)

// Counters counts events by the staging label they concern. It is safe for concurrent use.
type Counters struct{ current, pending, previous, other atomic.Int64 }

// Add counts one event for stage: AWSCURRENT, AWSPENDING, AWSPREVIOUS, or any other label.
func (c *Counters) Add(stage string) {
	switch stage {
	case rotasafe.StageCurrent:
		c.current.Add(1)
	case rotasafe.StagePending:
		c.pending.Add(1)
	case rotasafe.StagePrevious:
		c.previous.Add(1)
	default:
		c.other.Add(1)
	}
}

// Load returns the counts, read one by one.
func (c *Counters) Load() rotasafe.StageCounts {
	return rotasafe.StageCounts{Current: c.current.Load(), Pending: c.pending.Load(), Previous: c.previous.Load(), Other: c.other.Load()}
}
