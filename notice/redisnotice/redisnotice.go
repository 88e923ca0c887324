// Package redisnotice carries rotation notices over Redis publish/subscribe. A rotation
// handler publishes through it, and each application instance subscribes; delivery is at most
// once (a subscriber that is not connected when a notice is published never sees it), which
// notices are designed for.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "notices.example:6379", Username: "rotator", ...})
//	t := redisnotice.New(rdb)
//	h := rotate.NewHandler(client, rotate.PostgresSingleUser(), rotate.WithNotices(t))
//
// Restrict publishing to the rotator with ACL channel patterns and command rules (see package
// notice): for example "resetchannels &rotasafe:* -@all +publish" for the rotator and
// "resetchannels &rotasafe:* -@all +subscribe" for applications.
package redisnotice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe/internal/droplog"
	"github.com/rotasafe/rotasafe/internal/logopt"
	"github.com/rotasafe/rotasafe/internal/option"
	"github.com/rotasafe/rotasafe/notice"
	"github.com/rotasafe/rotasafe/retry"
)

// DefaultChannel is the channel notices travel on unless WithChannel names another. It
// matches the ACL channel pattern &rotasafe:*.
const DefaultChannel = "rotasafe:notices"

// healthEvery is how long a subscriber waits for traffic before it pings the server, so that
// a connection that died silently is noticed and replaced.
const healthEvery = 30 * time.Second

// resubscribe is the wait between attempts to restore a lost subscription.
var resubscribe = retry.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: retry.Equal}

// Transport publishes and subscribes to notices on one Redis channel. It implements
// notice.Transport; it is safe for concurrent use, and owns no goroutine outside its calls.
type Transport struct {
	c   redis.UniversalClient
	cfg config
}

var _ notice.Transport = (*Transport)(nil)

// Option configures New.
type Option func(*config)

type config struct {
	channel string
	logger  *slog.Logger // unset: slog.Default() at log time (logopt)
}

// WithChannel sets the channel (DefaultChannel, "rotasafe:notices", when not given). An
// empty name makes New panic.
func WithChannel(name string) Option {
	return func(c *config) {
		if name == "" {
			panic("redisnotice: WithChannel: empty channel name")
		}
		c.channel = name
	}
}

// WithLogger sets where Subscribe logs lost and restored subscriptions and notices that did
// not decode (never their content). Without it they go to slog.Default() (read at log time);
// a nil l discards them.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = logopt.Given(l) } }

// New returns a transport over c, a *redis.Client, *redis.ClusterClient or *redis.Ring. The
// client stays the caller's to close. New panics when c is nil.
func New(c redis.UniversalClient, opts ...Option) *Transport {
	if c == nil {
		panic("redisnotice: New with a nil redis client")
	}
	cfg := config{channel: DefaultChannel}
	option.Apply(&cfg, opts)
	return &Transport{c: c, cfg: cfg}
}

// Publish sends n on the channel with PUBLISH. An invalid n is an error (*notice.Error);
// so is a failed PUBLISH, a denied one (NOPERM) included.
func (t *Transport) Publish(ctx context.Context, n notice.Notice) error {
	b, err := notice.Encode(n)
	if err != nil {
		return err
	}
	if err := t.c.Publish(ctx, t.cfg.channel, b).Err(); err != nil {
		return fmt.Errorf("redisnotice: publish on %s: %w", t.cfg.channel, err)
	}
	return nil
}

// Subscribe delivers the notices published on the channel to handle until ctx ends, as
// notice.Transport says. A lost connection is replaced and the subscription restored, after
// jittered waits growing to 5 seconds; a silent one is found by a ping after 30 seconds
// without traffic. A server that denies the subscription (NOPERM: the user's ACL lacks the
// channel or SUBSCRIBE) ends it with that error.
func (t *Transport) Subscribe(ctx context.Context, handle func(notice.Notice)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ps := t.c.Subscribe(ctx, t.cfg.channel)
	var closeOnce sync.Once
	closePS := func() { closeOnce.Do(func() { ps.Close() }) }
	defer closePS()
	stop := context.AfterFunc(ctx, closePS) // unblocks a waiting Receive
	defer stop()

	b := resubscribe.NewBackOff()
	var lost error // the error that lost the subscription; nil while it holds
	var bad droplog.Log
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthEvery)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && isTimeout(err) {
			if err = ps.Ping(ctx); err == nil {
				continue
			}
		}
		if err != nil {
			if redis.IsPermissionError(err) {
				return fmt.Errorf("redisnotice: subscribe to %s: %w", t.cfg.channel, err)
			}
			if lost == nil {
				lost = err
				t.logger().Warn("redisnotice: subscription lost; restoring it", "channel", t.cfg.channel, "error", err)
			}
			if err := sleep(ctx, b.NextBackOff()); err != nil {
				return err
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if lost != nil && m.Kind == "subscribe" {
				t.logger().Info("redisnotice: subscription restored", "channel", t.cfg.channel)
				lost = nil
			}
			b.Reset()
		case *redis.Message:
			n, err := notice.Decode([]byte(m.Payload))
			if err != nil {
				bad.Dropped(t.logger(), "redisnotice: dropped messages that are not notices", err, "channel", t.cfg.channel)
				continue
			}
			handle(n)
		}
	}
}

func (t *Transport) logger() *slog.Logger { return logopt.Or(t.cfg.logger) }

// isTimeout reports whether err is a read that timed out, not a failure.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
