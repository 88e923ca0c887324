package sqlconn

import (
	"context"
	"database/sql/driver"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/retry"
)

// secrets is what a Connector needs from *cache.Cache.
type secrets interface {
	Get(ctx context.Context, secretID string) (rotasafe.Version, error)
	RefreshStale(ctx context.Context, secretID, usedVersionID string) (rotasafe.Version, error)
	Candidates(ctx context.Context, secretID string) ([]rotasafe.Version, error)
}

// maxEntries bounds the memoised per-version connectors; a secret has at most three
// labelled versions that matter at a time.
const maxEntries = 8

// Connector is a database/sql driver.Connector that logs in with credentials from a secret
// in a cache and survives the secret's rotation. Open a *sql.DB with sql.OpenDB.
//
// Connect takes the secret's AWSCURRENT version from the cache (or the version that last
// worked, while AWSCURRENT has not changed since) and logs in. When the login is rejected it
// asks the cache to refresh AWSCURRENT (the cache makes one call for any number of
// connects that found the same version stale, and at most one per its minimum refresh
// interval) and tries the new version at once; when AWSCURRENT did not change it tries
// AWSPENDING, then AWSPREVIOUS: in the middle of a rotation the database may already hold
// the pending password. The version that works is kept for later connects until AWSCURRENT
// changes. Transient failures are retried after jittered waits (see WithRetry) within the
// context's deadline; other failures end the connect at once with a *ConnectError.
//
// When every label is rejected, no Secrets Manager version matches the database (yet: the
// password may have been changed before the new version was stored). The Connector then
// closes a gate shared by all its connects: after a wait that grows with each rejected
// round (the policy's Initial, Multiplier and Max, with equal jitter), one connect tries a
// round again while the others wait for its outcome, so that a pool opening connections as
// fast as queries arrive cannot lock the database account. The gate opens when a login
// works or the cache's AWSCURRENT changes.
//
// Connections already open are never touched. A Connector owns no goroutines or
// connections of its own; the cache is the caller's to close. It is safe for concurrent use.
type Connector struct {
	secretID string
	src      secrets
	parse    func(rotasafe.Version) (rotasafe.DBSecret, error)
	drv      Driver
	cfg      config

	sticky atomic.Pointer[choice] // the version to use while AWSCURRENT is choice.currentID
	gate   *gate                  // holds logins back while every version is rejected

	mu      sync.Mutex        // guards entries
	entries map[string]*entry // per version ID: the connector built from it

	stats struct {
		connects, failures, logins, authFailures, fallbacks, refreshes, retries, withheld atomic.Int64
	}
}

// choice records that version e, fetched with label stage, worked while the cache's
// AWSCURRENT was currentID.
type choice struct {
	currentID string
	e         *entry
	stage     string
}

// entry is a driver connector built from one secret version.
type entry struct {
	id   string
	conn driver.Connector
}

var _ driver.Connector = (*Connector)(nil)

// newConnector is New without the cache type, for the cache adapter in new.go.
func newConnector(src secrets, parse func(rotasafe.Version) (rotasafe.DBSecret, error), secretID string, d Driver, opts []Option) *Connector {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return &Connector{secretID: secretID, src: src, parse: parse, drv: d, cfg: cfg, entries: map[string]*entry{}, gate: newGate(cfg.policy)}
}

// Driver returns the Driver's database/sql driver when it offers one (Postgres returns pgx's),
// and otherwise a driver whose Open explains that this connector has no data source name.
func (c *Connector) Driver() driver.Driver {
	if d, ok := c.drv.(interface{ Driver() driver.Driver }); ok {
		return d.Driver()
	}
	return noNameDriver{}
}

type noNameDriver struct{}

func (noNameDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("sqlconn: open by name is not supported; use sql.OpenDB with a *sqlconn.Connector")
}

// Connect logs in as described on Connector. When ctx has no deadline (database/sql's
// opener goroutine passes context.Background), the retry policy's MaxElapsed bounds the
// call, and each login attempt is bounded by the connect timeout either way.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if _, ok := ctx.Deadline(); !ok {
		bound := c.cfg.policy.MaxElapsed
		if bound <= 0 {
			bound = fallbackBound
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, bound+c.cfg.connectTimeout)
		defer cancel()
	}
	var giveUp time.Time // when the policy's MaxElapsed ends the connect
	if c.cfg.policy.MaxElapsed > 0 {
		giveUp = time.Now().Add(c.cfg.policy.MaxElapsed)
	}
	var log attemptLog
	// The first round runs outside the retry loop, which costs allocations that a connect
	// that works at once does not need.
	conn, err := c.round(ctx, giveUp, &log)
	if perm, ok := errors.AsType[*backoff.PermanentError](err); ok {
		err = perm.Err
	} else if err != nil {
		// A transient failure: go on in the retry loop. Its first call hands back this
		// failure, so that the loop begins with a wait rather than another login.
		failed := err
		p := c.cfg.policy
		p.OnRetry = func(attempt int, err error, wait time.Duration) {
			c.stats.retries.Add(1)
			c.cfg.logger.Debug("sqlconn: retrying connect", "secret", c.secretID, "attempt", attempt, "wait", wait, "err", err)
		}
		conn, err = retry.DoValue(ctx, p, func(ctx context.Context) (driver.Conn, error) {
			if failed != nil {
				err := failed
				failed = nil
				return nil, err
			}
			return c.round(ctx, giveUp, &log)
		})
	}
	if err != nil {
		c.stats.failures.Add(1)
		return nil, &ConnectError{SecretID: c.secretID, Attempts: log.list, Total: log.total, Err: err}
	}
	c.stats.connects.Add(1)
	return conn, nil
}

// round logs in: the chosen version, then on a rejected login the refreshed AWSCURRENT,
// then the other candidates. When every version is rejected it waits at the gate, shared
// with every other connect, and tries again, until ctx, giveUp (if not zero) or the
// policy's MaxAttempts ends it.
// It returns a retry.Permanent error for failures that waiting for the retry policy's
// backoff will not fix; transient failures return to the retry loop.
func (c *Connector) round(ctx context.Context, giveUp time.Time, log *attemptLog) (driver.Conn, error) {
	for rounds := 1; ; rounds++ {
		cur, err := c.src.Get(ctx, c.secretID)
		if err != nil {
			return nil, retry.Permanent(err)
		}
		probe, err := c.gate.enter(ctx, cur.ID, giveUp)
		if err != nil {
			c.stats.withheld.Add(1)
			return nil, retry.Permanent(err)
		}
		conn, rejected, err := c.gated(ctx, cur, probe, log)
		if !rejected {
			return conn, err
		}
		if max := c.cfg.policy.MaxAttempts; max > 0 && rounds >= max {
			return nil, retry.Permanent(err)
		}
		c.stats.retries.Add(1)
	}
}

// gated runs logIn for a connect the gate let through and reports the outcome to the gate,
// even when the driver panics, so that a probe never leaves the others waiting.
func (c *Connector) gated(ctx context.Context, cur rotasafe.Version, probe bool, log *attemptLog) (conn driver.Conn, rejected bool, err error) {
	reported := false
	defer func() {
		if !reported {
			c.gate.done(probe)
		}
	}()
	conn, currentID, rejected, err := c.logIn(ctx, cur, log)
	switch {
	case err == nil:
		c.gate.succeeded(probe)
	case rejected:
		c.gate.rejected(currentID, err, probe)
		c.cfg.logger.Debug("sqlconn: every version was rejected", "secret", c.secretID, "current", currentID, "err", err)
	default:
		c.gate.done(probe)
	}
	reported = true
	return conn, rejected, err
}

// logIn tries the versions of one round. rejected reports that every version tried was
// rejected as wrong credentials while AWSCURRENT was currentID.
func (c *Connector) logIn(ctx context.Context, cur rotasafe.Version, log *attemptLog) (conn driver.Conn, currentID string, rejected bool, err error) {
	// The hot path: the version that worked last while AWSCURRENT was cur, built already.
	first := c.sticky.Load()
	if first == nil || first.currentID != cur.ID {
		e, err := c.entryFor(cur)
		if err != nil {
			return nil, cur.ID, false, retry.Permanent(err)
		}
		first = &choice{currentID: cur.ID, e: e, stage: stageOf(cur)}
	}
	conn, class, err := c.try(ctx, first, log)
	if err == nil {
		c.stick(first)
		return conn, cur.ID, false, nil
	}
	if class != ClassAuth {
		return nil, cur.ID, false, classErr(class, err)
	}
	lastErr := err
	tried := []string{first.e.id}

	// The login was rejected: perhaps AWSCURRENT moved since the cache read it. The cache
	// refreshes only if its AWSCURRENT is still cur, and not more often than its floor.
	c.stats.refreshes.Add(1)
	currentID = cur.ID
	if fresh, err := c.src.RefreshStale(ctx, c.secretID, cur.ID); err != nil {
		c.cfg.logger.Debug("sqlconn: refresh after rejected login failed", "secret", c.secretID, "err", err)
	} else if currentID = fresh.ID; !slices.Contains(tried, fresh.ID) {
		e, err := c.entryFor(fresh)
		if err != nil {
			return nil, currentID, false, retry.Permanent(err)
		}
		tried = append(tried, e.id)
		ch := &choice{currentID: fresh.ID, e: e, stage: stageOf(fresh)}
		conn, class, err := c.try(ctx, ch, log)
		if err == nil {
			c.stick(ch)
			return conn, currentID, false, nil
		}
		if class != ClassAuth {
			return nil, currentID, false, classErr(class, err)
		}
		lastErr = err
	}
	if !c.cfg.fallback {
		return nil, currentID, true, lastErr
	}

	// AWSCURRENT did not help: in the middle of a rotation the database may hold AWSPENDING's
	// password already, or (after a rollback) AWSPREVIOUS's.
	cands, err := c.src.Candidates(ctx, c.secretID)
	if err != nil {
		c.cfg.logger.Debug("sqlconn: listing candidate versions failed", "secret", c.secretID, "err", err)
	}
	for _, v := range cands {
		if v.HasStage(rotasafe.StageCurrent) {
			currentID = v.ID
		}
	}
	for _, v := range cands {
		if slices.Contains(tried, v.ID) {
			continue
		}
		e, err := c.entryFor(v)
		if err != nil {
			// A malformed pending version must not stop the fallback to AWSPREVIOUS.
			c.cfg.logger.Debug("sqlconn: skipping candidate version", "secret", c.secretID, "version", v.ID, "err", err)
			continue
		}
		tried = append(tried, e.id)
		ch := &choice{currentID: currentID, e: e, stage: stageOf(v)}
		conn, class, err := c.try(ctx, ch, log)
		if err == nil {
			if e.id != currentID {
				c.stats.fallbacks.Add(1)
			}
			c.stick(ch)
			return conn, currentID, false, nil
		}
		if class != ClassAuth {
			return nil, currentID, false, classErr(class, err)
		}
		lastErr = err
	}
	return nil, currentID, true, lastErr
}

// try logs in once with ch's version, within the connect timeout.
func (c *Connector) try(ctx context.Context, ch *choice, log *attemptLog) (driver.Conn, Class, error) {
	c.stats.logins.Add(1)
	actx := ctx
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > c.cfg.connectTimeout {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, c.cfg.connectTimeout)
		defer cancel()
	}
	conn, err := ch.e.conn.Connect(actx)
	if err == nil {
		return conn, ClassOther, nil
	}
	class := c.drv.Classify(err)
	if class == ClassAuth {
		c.stats.authFailures.Add(1)
	}
	log.add(Attempt{VersionID: ch.e.id, Stage: ch.stage, Class: class, Err: err})
	return nil, class, err
}

// stick makes ch the version to use while AWSCURRENT is ch.currentID, and logs a change.
func (c *Connector) stick(ch *choice) {
	old := c.sticky.Load()
	if old == ch {
		return
	}
	if old != nil && old.currentID == ch.currentID && old.e == ch.e {
		return
	}
	c.sticky.Store(ch)
	if old != nil && old.e == ch.e {
		return
	}
	if ch.e.id == ch.currentID {
		c.cfg.logger.Info("sqlconn: using version", "secret", c.secretID, "version", ch.e.id, "stage", ch.stage)
	} else {
		c.cfg.logger.Info("sqlconn: using fallback version until AWSCURRENT changes", "secret", c.secretID,
			"version", ch.e.id, "stage", ch.stage, "current", ch.currentID)
	}
}

// entryFor returns the memoised connector for version v, building it on first use.
func (c *Connector) entryFor(v rotasafe.Version) (*entry, error) {
	c.mu.Lock()
	e, ok := c.entries[v.ID]
	c.mu.Unlock()
	if ok {
		return e, nil
	}
	s, err := c.parse(v)
	if err != nil {
		return nil, versionErr(v, err)
	}
	dc, err := c.drv.Connector(s, c.cfg.params)
	if err != nil {
		return nil, versionErr(v, err)
	}
	e = &entry{id: v.ID, conn: dc}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[v.ID]; ok {
		return old, nil
	}
	if len(c.entries) >= maxEntries {
		keep := c.sticky.Load()
		for id := range c.entries {
			if keep == nil || id != keep.e.id {
				delete(c.entries, id)
			}
		}
	}
	c.entries[v.ID] = e
	return e, nil
}

// Stats counts what a Connector has done since it was made.
type Stats struct {
	Connects     int64 // Connect calls that returned a connection
	Failures     int64 // Connect calls that returned an error
	Logins       int64 // login attempts, successful or not
	AuthFailures int64 // login attempts the database rejected as wrong credentials
	Fallbacks    int64 // connects that succeeded with AWSPENDING or AWSPREVIOUS after AWSCURRENT was rejected
	Refreshes    int64 // RefreshStale calls made after a rejected login (the cache coalesces them)
	Retries      int64 // waits before another round of logins
	Withheld     int64 // rounds given up without a login because every version had just been rejected
}

// Stats returns the Connector's counters.
func (c *Connector) Stats() Stats {
	return Stats{
		Connects:     c.stats.connects.Load(),
		Failures:     c.stats.failures.Load(),
		Logins:       c.stats.logins.Load(),
		AuthFailures: c.stats.authFailures.Load(),
		Fallbacks:    c.stats.fallbacks.Load(),
		Refreshes:    c.stats.refreshes.Load(),
		Retries:      c.stats.retries.Load(),
		Withheld:     c.stats.withheld.Load(),
	}
}

// classErr marks err for the retry loop: transient failures are retried, others are not.
func classErr(class Class, err error) error {
	if class == ClassTransient {
		return err
	}
	return retry.Permanent(err)
}

// versionErr names the version a secret could not be used from. The cause is a
// *rotasafe.SecretFormatError or a Driver's error, neither of which quotes the value.
func versionErr(v rotasafe.Version, err error) error {
	return &versionError{id: v.ID, stage: stageOf(v), err: err}
}

type versionError struct {
	id, stage string
	err       error
}

func (e *versionError) Error() string {
	s := "version " + e.id
	if e.stage != "" {
		s += " (" + e.stage + ")"
	}
	return s + ": " + e.err.Error()
}

func (e *versionError) Unwrap() error { return e.err }

// stageOf names the most telling label a version held when fetched.
func stageOf(v rotasafe.Version) string {
	for _, s := range []string{rotasafe.StageCurrent, rotasafe.StagePending, rotasafe.StagePrevious} {
		if v.HasStage(s) {
			return s
		}
	}
	if len(v.Stages) > 0 {
		return v.Stages[0]
	}
	return ""
}
