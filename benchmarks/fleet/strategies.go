package fleet

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/memo"
	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// rotasafeInstance is one application instance as rotasafe's clients build it: a
// cache.Cache as the rotasafe.Source and the credential walk that sqlconn, redisconn and
// pgxpoolconn share (package login), with a login against the stand-in database as its Try.
type rotasafeInstance struct {
	c   *cache.Cache
	w   *login.Walker
	db  *fakeDB
	pws memo.Map[string, string] // by version ID: its password, parsed once
}

// discard is the logger of every instance: 10,000 instances logging their fallbacks would
// measure the log, not the fleet.
var discard = slog.New(slog.DiscardHandler)

func newRotasafe(client *secretsmanager.Client, id string, db *fakeDB, cfg Config, dil func(time.Duration) time.Duration, now func() time.Time,
	notices *fanout, waits *waitRecorder) *rotasafeInstance {
	opts := []cache.Option{
		cache.WithTTL(cfg.TTL),
		cache.WithFetchTimeout(dil(cache.DefaultFetchTimeout)), // a real timer
		cache.WithLogger(discard),
		// The simulation's virtual clock (modeled time). It also spares 10,000 coarse-clock
		// goroutines: with a clock given, the cache reads it on every hit.
		cache.WithClock(now),
	}
	if notices != nil {
		window := cfg.NoticeWindow
		if window <= 0 {
			window = cache.DefaultNoticeWindow
		}
		// The window is waited on with a real timer: stretched like every other wait.
		opts = append(opts, cache.WithNotices(notices), cache.WithNoticeWindow(dil(window)), cache.WithNoticeHold(dil(cfg.NoticeHold)))
	}
	c := cache.New(client, append(opts, cfg.CacheOptions...)...)
	var src rotasafe.Source = c
	if notices != nil {
		src = timedSource{c, waits}
	}
	// sqlconn's defaults, with the waits stretched by the simulation's dilation.
	p := login.DefaultPolicy()
	p.Initial, p.Max, p.MaxElapsed = dil(p.Initial), dil(p.Max), dil(p.MaxElapsed)
	w := login.New(src, id, login.WithClient("fleet"), login.WithRetry(p),
		login.WithAttemptTimeout(dil(sqlconn.DefaultConnectTimeout)), login.WithLogger(discard))
	r := &rotasafeInstance{c: c, w: w, db: db}
	r.pws.Max = 8
	return r
}

func (r *rotasafeInstance) connect(ctx context.Context) error {
	_, err := r.w.Login(ctx, r.try)
	return err
}

// try logs in to the stand-in database with the password of v.
func (r *rotasafeInstance) try(_ context.Context, v rotasafe.Version) error {
	pw, err := r.pws.Get(v.ID, func() (string, error) {
		s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
		return s.Password, err
	})
	if err != nil {
		return login.Unusable(err)
	}
	return login.Rejected(r.db.login(pw))
}

func (r *rotasafeInstance) stats() (cache.Stats, rotasafe.LoginStats) {
	return r.c.Stats(), r.w.Stats()
}

func (r *rotasafeInstance) close() { r.c.Close() }

// baseline is a fixed-TTL cache without coalescing or stale-if-error: every reader of an
// expired value calls GetSecretValue, and every rejected login refetches AWSCURRENT once and
// retries (the AWS JDBC wrapper's default, the AWS Advanced Go Wrapper).
type baseline struct {
	client *secretsmanager.Client
	id     string
	db     *fakeDB
	ttl    time.Duration
	now    func() time.Time // the simulation's virtual clock

	mu      sync.Mutex // guards the fields below
	value   string
	expires time.Time
}

func (b *baseline) fetch(ctx context.Context) (string, error) {
	out, err := b.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(b.id)})
	if err != nil {
		return "", err
	}
	v := aws.ToString(out.SecretString)
	b.mu.Lock()
	b.value, b.expires = v, b.now().Add(b.ttl)
	b.mu.Unlock()
	return v, nil
}

func (b *baseline) get(ctx context.Context) (string, error) {
	b.mu.Lock()
	v, fresh := b.value, b.now().Before(b.expires)
	b.mu.Unlock()
	if fresh {
		return v, nil
	}
	return b.fetch(ctx)
}

func (b *baseline) connect(ctx context.Context) error {
	v, err := b.get(ctx)
	if err != nil {
		return err
	}
	if b.login(v) == nil {
		return nil
	}
	if v, err = b.fetch(ctx); err != nil {
		return err
	}
	return b.login(v)
}

func (b *baseline) login(secretJSON string) error {
	s, err := rotasafe.ParseDBSecret([]byte(secretJSON))
	if err != nil {
		return err
	}
	return b.db.login(s.Password)
}

func (b *baseline) close() {}
