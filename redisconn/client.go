package redisconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/memo"
	"github.com/rotasafe/rotasafe/internal/redissecret"
	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/retry"
)

// Credentials gives go-redis clients the username and password of a secret and logs them
// in again when Redis rejects a password that a rotation removed. It has two parts:
//
//   - Provide, a go-redis Options.CredentialsProviderContext: each new connection logs in
//     with the secret's AWSCURRENT version (or the version that last worked, while
//     AWSCURRENT has not changed since).
//   - The redis.Hook methods (add it with Client.AddHook): when the login of the new
//     connection a command needed was rejected (WRONGPASS, NOAUTH), the command runs again
//     with the versions the credential walk reads, AWSPENDING first, as sqlconn's Connector
//     does. The command had not reached Redis when its login failed, so running it again is
//     safe.
//
// NewClient wires both. Connections already logged in are never touched. Publish/subscribe
// connections log in through Provide but are not rerun by the hook; go-redis reconnects
// them itself. A Credentials is safe for concurrent use and owns no goroutines.
type Credentials struct {
	secretID string
	src      rotasafe.Source
	walk     *login.Walker
	accounts memo.Map[string, account] // by version ID: what its secret says
}

// maxAccounts bounds Credentials.accounts: a secret has at most three labelled versions
// that matter at a time.
const maxAccounts = 8

var _ redis.Hook = (*Credentials)(nil)

// Option configures a Credentials.
type Option func(*config)

type config struct {
	login []login.Option // the walk's options, after redisconn's defaults
}

// with forwards a login option: its meaning and default are login's.
func with(o login.Option) Option { return func(c *config) { c.login = append(c.login, o) } }

// WithRetry sets the policy of the rounds that follow a rejected login, as login.WithRetry
// does: the waits of the lockout gate (Initial, Multiplier, Max with equal jitter) and the
// bound on a command's recovery (MaxElapsed, MaxAttempts). Without it a recovery uses
// login.DefaultPolicy. A policy with Retryable or OnRetry set makes the constructor panic:
// the walk classifies errors and Stats counts retries.
func WithRetry(p retry.Policy) Option { return with(login.WithRetry(p)) }

// WithLogger makes the Credentials log version changes at Info and rejected rounds at Debug
// to l, as login.WithLogger does, never with a password. Without it the Credentials log to
// slog.Default() (read at the time of logging); a nil l discards the logs.
func WithLogger(l *slog.Logger) Option { return with(login.WithLogger(l)) }

// WithMeterProvider makes the login attempts record their metrics (rotasafe.login.attempts
// and rotasafe.login.duration) with mp, as login.WithMeterProvider does, instead of
// OpenTelemetry's global MeterProvider; a nil mp keeps the global provider. As in Stats,
// the attempts are those of a recovery: go-redis logs new connections in by itself, and
// the rejected login a recovery starts from is counted but not timed.
func WithMeterProvider(mp metric.MeterProvider) Option { return with(login.WithMeterProvider(mp)) }

// WithoutFallback turns off the fallback to AWSPENDING and AWSPREVIOUS, as
// login.WithoutFallback does: after a rejected login only AWSCURRENT is read again and
// tried.
func WithoutFallback() Option { return with(login.WithoutFallback()) }

// NewCredentials returns the Credentials of secretID, read from src (a *cache.Cache, or any
// rotasafe.Source). It panics if src is nil, secretID is empty or an option is invalid: a
// programming error.
func NewCredentials(src rotasafe.Source, secretID string, opts ...Option) *Credentials {
	var cfg config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	p := &Credentials{secretID: secretID, src: src,
		walk: login.New(src, secretID, append([]login.Option{login.WithClient("redisconn")}, cfg.login...)...)}
	p.accounts.Max = maxAccounts
	return p
}

// NewClient returns a go-redis client that logs in with the credentials of secretID, read
// from src, and picks up rotated credentials as [Credentials] describes. ropts (nil for
// none) is copied, not changed; its Username, Password and credentials providers are
// ignored. When ropts has neither Addr nor Dialer, each connection goes to the host and port
// of the secret's AWSCURRENT version, over TLS when the secret has "tls": true (or when
// ropts.TLSConfig is set).
//
//	rdb := redisconn.NewClient(c, "prod/app/redis", &redis.Options{PoolSize: 20})
//	defer rdb.Close()
func NewClient(src rotasafe.Source, secretID string, ropts *redis.Options, opts ...Option) *redis.Client {
	rdb, _ := newClient(NewCredentials(src, secretID, opts...), ropts)
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

// account is a parsed secret version: what a connection needs to log in.
type account struct {
	secret rotasafe.DBSecret
	srv    redissecret.Server
}

func parseAccount(v rotasafe.Version) (account, error) {
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		return account{}, err
	}
	srv, err := redissecret.ServerOf(s, v.SecretString)
	if err != nil {
		return account{}, err
	}
	return account{secret: s, srv: srv}, nil
}

// parsed parses v once per version.
func (p *Credentials) parsed(v rotasafe.Version) (account, error) {
	l, err := p.accounts.Get(v.ID, func() (account, error) { return parseAccount(v) })
	if err != nil {
		return account{}, fmt.Errorf("redisconn: secret %s version %s: %w", p.secretID, v.ID, err)
	}
	return l, nil
}

// attempt is what the hook and Provide share about one run of a command: the version its
// new connection logged in with, and the version to use instead of the usual choice.
type attempt struct {
	mu    sync.Mutex       // guards the fields; go-redis may init a connection on another goroutine
	used  rotasafe.Version // the version Provide handed out in this run; zero when no login happened
	force *rotasafe.Version
}

func (a *attempt) usedID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.used.ID
}

// reset starts a run that logs in with force (nil: the usual choice).
func (a *attempt) reset(force *rotasafe.Version) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.used, a.force = rotasafe.Version{}, force
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
		cur, err := p.walk.Choose(ctx)
		if err != nil {
			return "", "", fmt.Errorf("redisconn: secret %s: %w", p.secretID, err)
		}
		v = cur
	}
	l, err := p.parsed(v)
	if err != nil {
		return "", "", err
	}
	if a != nil {
		a.mu.Lock()
		a.used = v
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
	a.mu.Lock()
	used := a.used
	a.mu.Unlock()
	if used.ID == "" { // not the login of a connection this run opened
		return err
	}
	_, werr := p.walk.Recover(ctx, used, err, func(ctx context.Context, v rotasafe.Version) error {
		a.reset(&v)
		err := do(ctx)
		if redis.IsAuthError(err) && a.usedID() == v.ID {
			return login.Rejected(err)
		}
		// nil, the command's own failure, or a connection error go-redis already retried.
		return err
	})
	return werr
}

// Stats returns what the Credentials' logins cost since it was made. go-redis logs new
// connections in by itself, through Provide; the walk counts only the commands run again
// after such a login was rejected: Connects counts those that ran, Failures those whose
// logins were all rejected until the policy ran out, and Logins, Rejected, Fallbacks,
// Rereads, Retries and Withheld what their recovery cost (the first rejection included).
func (p *Credentials) Stats() rotasafe.LoginStats { return p.walk.Stats() }
