package redisconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/redissecret"
	"github.com/rotasafe/rotasafe/retry"
)

// secrets is what Credentials needs from *cache.Cache.
type secrets interface {
	Get(ctx context.Context, secretID string) (rotasafe.Version, error)
	RefreshStale(ctx context.Context, secretID, usedVersionID string) (rotasafe.Version, error)
	Candidates(ctx context.Context, secretID string) ([]rotasafe.Version, error)
}

// Credentials gives go-redis clients the username and password of a secret read through a
// cache, and logs them in again when Redis rejects a password that a rotation removed. It
// has two parts that work together:
//
//   - Provide is a go-redis Options.CredentialsProviderContext: each new connection logs in
//     with the secret's AWSCURRENT version from the cache (or the version that last worked,
//     while AWSCURRENT has not changed since).
//   - As a redis.Hook (add it with Client.AddHook), it watches each command and pipeline:
//     when the login of the new connection the command needed was rejected (WRONGPASS,
//     NOAUTH), it asks the cache to refresh AWSCURRENT (one call for every connection that
//     found the same version stale, at most one per the cache's minimum refresh interval)
//     and runs the command again, which logs in with the new version; when AWSCURRENT did
//     not change it tries AWSPENDING, then AWSPREVIOUS. Rounds in which every version was
//     rejected are retried after jittered waits, within the command's context and at most
//     10 seconds. The command had not reached Redis when its login failed, so running it
//     again is safe.
//
// NewClient wires both; for a ClusterClient or a Ring, set CredentialsProviderContext to
// Provide and add the Credentials as a hook. Connections already logged in are never
// touched: Redis keeps them when a password is removed. Publish/subscribe connections log in
// through Provide but are not rerun by the hook; go-redis reconnects them itself. Each
// command carries a small context value (two allocations) so that a rejected login can be
// told from the command's own error. A Credentials is safe for concurrent use; it owns no
// goroutines, and the cache is the caller's to close.
type Credentials struct {
	c        *cache.Cache
	src      secrets
	secretID string
	policy   retry.Policy

	sticky atomic.Pointer[choice] // the version to log in with while AWSCURRENT is choice.currentID

	stats struct{ logins, rejected, refreshes, fallbacks, recovered, failed atomic.Int64 }
}

// choice records that version v worked while the cache's AWSCURRENT was currentID.
type choice struct {
	currentID string
	v         rotasafe.Version
}

var _ redis.Hook = (*Credentials)(nil)

// NewCredentials returns the Credentials of secretID, read through c.
func NewCredentials(c *cache.Cache, secretID string) *Credentials {
	return newCredentials(c, c, secretID)
}

func newCredentials(c *cache.Cache, src secrets, secretID string) *Credentials {
	return &Credentials{c: c, src: src, secretID: secretID, policy: retry.Policy{
		Initial:    50 * time.Millisecond,
		Max:        time.Second,
		MaxElapsed: 10 * time.Second,
	}}
}

// NewClient returns a go-redis client that logs in with the credentials of secretID, read
// through c, and picks up rotated credentials as [Credentials] describes. opts (nil for
// none) is copied, not changed; its Username, Password and credentials providers are
// ignored. When opts has neither Addr nor Dialer, each connection goes to the host and port
// of the secret's AWSCURRENT version, over TLS when the secret has "tls": true (or when
// opts.TLSConfig is set).
//
//	rdb := redisconn.NewClient(c, "prod/app/redis", &redis.Options{PoolSize: 20})
//	defer rdb.Close()
func NewClient(c *cache.Cache, secretID string, opts *redis.Options) *redis.Client {
	rdb, _ := newClient(NewCredentials(c, secretID), opts)
	return rdb
}

func newClient(p *Credentials, opts *redis.Options) (*redis.Client, *Credentials) {
	var o redis.Options
	if opts != nil {
		o = *opts
	}
	o.Username, o.Password = "", ""
	o.CredentialsProvider, o.StreamingCredentialsProvider = nil, nil
	o.CredentialsProviderContext = p.Provide
	if o.Addr == "" && o.Dialer == nil {
		o.Dialer = p.dialer(o.TLSConfig, o.DialTimeout)
	}
	rdb := redis.NewClient(&o)
	rdb.AddHook(p)
	return rdb, p
}

// login is a parsed secret version: what a connection needs to log in.
type login struct {
	secret rotasafe.DBSecret
	srv    redissecret.Server
}

func parseLogin(v rotasafe.Version) (login, error) {
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		return login{}, err
	}
	srv, err := redissecret.ServerOf(s, v.SecretString)
	if err != nil {
		return login{}, err
	}
	return login{secret: s, srv: srv}, nil
}

// parsed parses v once per version (the cache memoises it).
func (p *Credentials) parsed(v rotasafe.Version) (login, error) {
	l, err := cache.Parsed(p.c, v, parseLogin)
	if err != nil {
		return login{}, fmt.Errorf("redisconn: secret %s: %w", p.secretID, err)
	}
	return l, nil
}

// attempt is what the hook and Provide share about one run of a command: the version its
// new connection logged in with, and the version to use instead of the usual choice.
type attempt struct {
	mu    sync.Mutex // guards the fields; go-redis may init a connection on another goroutine
	used  string     // version ID Provide handed out in this run; "" when no login happened
	force *rotasafe.Version
}

func (a *attempt) usedID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.used
}

// reset starts a run that logs in with force (nil: the usual choice).
func (a *attempt) reset(force *rotasafe.Version) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.used, a.force = "", force
}

// attemptKey is the context key of a command's attempt, one per Credentials so that two
// Credentials on one context do not mix.
type attemptKey struct{ p *Credentials }

// Provide returns the username and password a new connection logs in with. It is a go-redis
// Options.CredentialsProviderContext. The error names the secret and the cause, never a
// value.
func (p *Credentials) Provide(ctx context.Context) (username, password string, err error) {
	a, _ := ctx.Value(attemptKey{p}).(*attempt)
	var v rotasafe.Version
	var forced bool
	if a != nil {
		a.mu.Lock()
		if a.force != nil {
			v, forced = *a.force, true
		}
		a.mu.Unlock()
	}
	if !forced {
		cur, err := p.src.Get(ctx, p.secretID)
		if err != nil {
			return "", "", fmt.Errorf("redisconn: secret %s: %w", p.secretID, err)
		}
		v = cur
		if ch := p.sticky.Load(); ch != nil && ch.currentID == cur.ID {
			v = ch.v
		}
	}
	l, err := p.parsed(v)
	if err != nil {
		return "", "", err
	}
	p.stats.logins.Add(1)
	if a != nil {
		a.mu.Lock()
		a.used = v.ID
		a.mu.Unlock()
	}
	return l.secret.Username, l.secret.Password, nil
}

// dialer returns a go-redis Dialer that connects to the address of the secret's AWSCURRENT
// version.
func (p *Credentials) dialer(own *tls.Config, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		v, err := p.src.Get(ctx, p.secretID)
		if err != nil {
			return nil, fmt.Errorf("redisconn: secret %s: %w", p.secretID, err)
		}
		l, err := p.parsed(v)
		if err != nil {
			return nil, err
		}
		d := &net.Dialer{Timeout: timeout, KeepAlive: 5 * time.Minute}
		if cfg := redissecret.TLSConfig(own, l.srv); cfg != nil {
			return (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, network, l.srv.Addr)
		}
		return d.DialContext(ctx, network, l.srv.Addr)
	}
}

// DialHook is part of redis.Hook; it changes nothing.
func (p *Credentials) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook is part of redis.Hook: it runs a command again with other credentials when
// the login of its new connection was rejected.
func (p *Credentials) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch strings.ToLower(cmd.Name()) {
		case "auth", "hello": // their own rejections are the caller's
			return next(ctx, cmd)
		}
		return p.run(ctx, func(ctx context.Context) error { return next(ctx, cmd) })
	}
}

// ProcessPipelineHook is part of redis.Hook: it runs a pipeline (or transaction) again with
// other credentials when the login of its new connection was rejected.
func (p *Credentials) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return p.run(ctx, func(ctx context.Context) error { return next(ctx, cmds) })
	}
}

// run runs do with an attempt in its context, and recovers when a login was rejected.
func (p *Credentials) run(ctx context.Context, do func(ctx context.Context) error) error {
	a := &attempt{}
	ctx = context.WithValue(ctx, attemptKey{p}, a)
	err := do(ctx)
	if err == nil || !redis.IsAuthError(err) {
		return err
	}
	used := a.usedID()
	if used == "" { // not the login of a connection this run opened
		return err
	}
	p.stats.rejected.Add(1)
	last := err // the last run's error, which go-redis has set on the command(s) too
	err = retry.Do(ctx, p.policy, func(ctx context.Context) error {
		var rerr error
		used, rerr = p.round(ctx, a, used, &last, do)
		return rerr
	})
	if err != nil {
		p.stats.failed.Add(1)
		return last
	}
	p.stats.recovered.Add(1)
	return nil
}

// round tries, after version used was rejected: the refreshed AWSCURRENT, then AWSPENDING
// and AWSPREVIOUS. It returns the AWSCURRENT version ID it saw (for the next round's
// RefreshStale), and an error that is retry.Permanent unless every version was rejected.
// last is set to the error of each run of do.
func (p *Credentials) round(ctx context.Context, a *attempt, used string, last *error, do func(ctx context.Context) error) (currentID string, err error) {
	tried := []string{used}
	currentID = used
	// try runs do logging in with v; done reports that the run ended the round.
	try := func(v rotasafe.Version) (done bool, err error) {
		tried = append(tried, v.ID)
		a.reset(&v)
		err = do(ctx)
		*last = err
		switch {
		case err == nil:
			if a.usedID() == v.ID {
				p.stick(v, currentID)
			}
			return true, nil
		case !redis.IsAuthError(err) || a.usedID() == "":
			return true, retry.Permanent(err)
		}
		p.stats.rejected.Add(1)
		return false, err
	}

	p.stats.refreshes.Add(1)
	lastErr := error(nil)
	if fresh, rerr := p.src.RefreshStale(ctx, p.secretID, used); rerr == nil {
		currentID = fresh.ID
		if !slices.Contains(tried, fresh.ID) {
			done, err := try(fresh)
			if done {
				return currentID, err
			}
			lastErr = err
		}
	}
	cands, cerr := p.src.Candidates(ctx, p.secretID)
	if cerr != nil && len(cands) == 0 {
		if lastErr == nil {
			return currentID, retry.Permanent(cerr)
		}
		return currentID, lastErr
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
		if v.ID != currentID {
			p.stats.fallbacks.Add(1)
		}
		done, err := try(v)
		if done {
			return currentID, err
		}
		lastErr = err
	}
	if lastErr == nil { // nothing new to try: wait for AWSCURRENT to move
		lastErr = fmt.Errorf("redisconn: secret %s: every version was rejected", p.secretID)
	}
	return currentID, lastErr
}

// stick makes v the version new connections log in with while AWSCURRENT is currentID.
func (p *Credentials) stick(v rotasafe.Version, currentID string) {
	if v.ID == currentID {
		if p.sticky.Load() != nil {
			p.sticky.Store(nil)
		}
		return
	}
	p.sticky.Store(&choice{currentID: currentID, v: v})
}

// Stats counts what a Credentials has done since it was made.
type Stats struct {
	Logins    int64 // credentials handed to new connections
	Rejected  int64 // logins Redis rejected
	Refreshes int64 // RefreshStale calls after a rejected login (the cache coalesces them)
	Fallbacks int64 // logins tried with AWSPENDING or AWSPREVIOUS
	Recovered int64 // commands that ran after their first login was rejected
	Failed    int64 // commands whose logins were all rejected until the retries ran out
}

// Stats returns the counters.
func (p *Credentials) Stats() Stats {
	return Stats{
		Logins:    p.stats.logins.Load(),
		Rejected:  p.stats.rejected.Load(),
		Refreshes: p.stats.refreshes.Load(),
		Fallbacks: p.stats.fallbacks.Load(),
		Recovered: p.stats.recovered.Load(),
		Failed:    p.stats.failed.Load(),
	}
}
