package cache

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/rotasafe/rotasafe"
)

// Refresh reads the AWSCURRENT version of secretID from Secrets Manager now, whatever the
// cache holds, and caches it. Concurrent callers share one GetSecretValue, and a secret is
// read this way at most once per MinRefreshInterval: callers inside the interval get the
// last answer. Errors are returned, not bridged with a stale version (Get still serves it).
func (c *Cache) Refresh(ctx context.Context, secretID string) (rotasafe.Version, error) {
	return c.forced(ctx, secretID, rotasafe.StageCurrent, reason{kind: refresh})
}

// Reread is for a caller whose login with version rejectedID of secretID was rejected: it
// returns the version that holds stage, read from Secrets Manager after the rejection
// (rotasafe.Source). The first report of a rejected version reads at once; every concurrent
// or later report of the same version shares that read for MinRefreshInterval, so a
// thousand connections failing with one stale password make one call, and each newly
// rejected version (back-to-back rotations) gets a read of its own.
//
// For AWSCURRENT, a cached version other than rejectedID is returned without a call:
// someone read it since. The answer carries every label of its version, and the cache
// learns from it: an AWSPENDING answer that also holds AWSCURRENT (finishSecret ran)
// becomes the cached AWSCURRENT at no further cost. rotasafe.IsNotFound reports a stage no
// version holds.
//
// For AWSPENDING, with notices (WithNotices), the version a notice announced and the cache
// read by ID and found labelled AWSPENDING is returned without a call while its rotation is
// under way (no finished notice yet) and no caller reported it rejected: it is what the read
// would find, unless a rotation began since with every notice lost, which costs one more
// rejected login, once, and then this read.
func (c *Cache) Reread(ctx context.Context, secretID, stage, rejectedID string) (rotasafe.Version, error) {
	if stage == rotasafe.StagePending && rejectedID != "" {
		if v, ok := c.announcedPending(secretID, rejectedID); ok {
			c.hits.inc()
			return v, nil
		}
	}
	if stage == rotasafe.StageCurrent && rejectedID != "" {
		if e, ok := c.entryFor(secretID, stage); ok {
			if s := e.snap.Load(); s != nil && s.err == nil && s.v.ID != rejectedID && c.now() < s.expireAt {
				c.hits.inc()
				return s.v, nil
			}
		}
	}
	why := reason{kind: rejected, version: rejectedID}
	if rejectedID == "" {
		why = reason{kind: refresh} // nothing was named: a plain forced read, shared with Refresh
	}
	return c.forced(ctx, secretID, stage, why)
}

var _ rotasafe.Source = (*Cache)(nil)

// forced is a forced read of (secretID, stage) for why.
func (c *Cache) forced(ctx context.Context, secretID, stage string, why reason) (rotasafe.Version, error) {
	if stage == "" {
		return rotasafe.Version{}, errors.New("cache: empty staging label")
	}
	e, err := c.entry(secretID, stage)
	if err != nil {
		return rotasafe.Version{}, err
	}
	s, err := c.reread(ctx, e, why)
	if err != nil {
		return rotasafe.Version{}, err
	}
	return version(s.result())
}

// Warm fetches the AWSCURRENT versions of ids into the cache, each at a random offset within
// WarmWindow (in a random order), so that a fleet starting at once spreads its calls. It
// returns when all are fetched, with the errors joined, or when ctx ends or the Cache closes.
func (c *Cache) Warm(ctx context.Context, ids ...string) error {
	type job struct {
		id string
		at time.Duration
	}
	jobs := make([]job, len(ids))
	for i, id := range ids {
		jobs[i] = job{id, time.Duration(c.float() * float64(c.cfg.warmWindow))}
	}
	slices.SortFunc(jobs, func(a, b job) int { return int(a.at - b.at) })
	start := time.Now()
	var errs []error
	for _, j := range jobs {
		if d := j.at - time.Since(start); d > 0 {
			if err := c.sleep(ctx, d); err != nil {
				return errors.Join(append(errs, err)...)
			}
		}
		if _, err := c.Get(ctx, j.id); err != nil {
			if errors.Is(err, ErrClosed) || ctx.Err() != nil {
				return errors.Join(append(errs, err)...)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sleep waits d, or until ctx ends (its error) or the Cache closes (ErrClosed).
func (c *Cache) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return ErrClosed
	}
}
