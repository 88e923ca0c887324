package cache

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/rotasafe/rotasafe"
)

// Refresh fetches the AWSCURRENT version of secretID now, whatever the cache holds, and
// caches it. Concurrent callers share one GetSecretValue, and a secret is fetched this way
// at most once per MinRefreshInterval: callers inside the interval get the last forced answer.
// Errors are returned, not bridged with a stale version (Get still serves it).
func (c *Cache) Refresh(ctx context.Context, secretID string) (rotasafe.Version, error) {
	e, err := c.entry(secretID, rotasafe.StageCurrent)
	if err != nil {
		return rotasafe.Version{}, err
	}
	s, err := c.wait(ctx, e, true)
	if err != nil {
		return rotasafe.Version{}, err
	}
	if s.err != nil {
		return rotasafe.Version{}, s.err
	}
	return s.v, nil
}

// RefreshStale is for a caller whose credentials from version usedVersionID were rejected.
// If the cache already holds another AWSCURRENT version (someone refreshed meanwhile), it
// returns that version without an API call. Otherwise it refreshes as Refresh does: every
// concurrent caller shares one GetSecretValue, and within MinRefreshInterval callers share
// the last answer, so a thousand failing connections cause one call. The answer may still be
// usedVersionID when AWSCURRENT has not moved; try Candidates then. An empty usedVersionID
// (the caller does not know which version it used) always refreshes.
func (c *Cache) RefreshStale(ctx context.Context, secretID, usedVersionID string) (rotasafe.Version, error) {
	e, err := c.entry(secretID, rotasafe.StageCurrent)
	if err != nil {
		return rotasafe.Version{}, err
	}
	if s := e.snap.Load(); usedVersionID != "" && s != nil && s.err == nil && s.v.ID != usedVersionID && c.now() < s.expireAt {
		c.hits.inc()
		return s.v, nil
	}
	return c.Refresh(ctx, secretID)
}

// Candidates returns the distinct versions of secretID worth trying, in order: AWSCURRENT,
// then AWSPENDING and AWSPREVIOUS when they exist and are other versions. It is what a
// connector tries when AWSCURRENT's credentials fail during a rotation. A missing AWSPENDING
// (absent, or a placeholder without a value) is remembered for NegativeTTL, so repeated calls
// do not ask for it each time. Only AWSCURRENT's error is returned; AWSPENDING and AWSPREVIOUS
// are left out when they cannot be read (an IAM policy may allow AWSCURRENT only), unless ctx
// ends.
//
// AWSPENDING and AWSPREVIOUS answers carry every label of their version, so Candidates also
// notices when AWSCURRENT moved after it was cached (finishSecret ran a moment ago): it then
// reads AWSCURRENT again, without waiting for MinRefreshInterval, and puts the new version
// first.
func (c *Cache) Candidates(ctx context.Context, secretID string) ([]rotasafe.Version, error) {
	cur, err := c.Get(ctx, secretID)
	if err != nil {
		return nil, err
	}
	out := make([]rotasafe.Version, 1, 3)
	out[0] = cur
	for _, stage := range []string{rotasafe.StagePending, rotasafe.StagePrevious} {
		v, err := c.GetStage(ctx, secretID, stage)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return out, err
			}
			continue
		}
		if !slices.ContainsFunc(out, func(x rotasafe.Version) bool { return x.ID == v.ID }) {
			out = append(out, v)
		}
	}
	// A hit unless the answers above showed the cached AWSCURRENT stale (see learn).
	if now, err := c.Get(ctx, secretID); err == nil && now.ID != cur.ID {
		out = slices.DeleteFunc(out, func(x rotasafe.Version) bool { return x.ID == now.ID })
		out = slices.Insert(out, 0, now)
	}
	return out, nil
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
