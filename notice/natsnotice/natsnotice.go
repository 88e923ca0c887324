// Package natsnotice carries rotation notices over NATS core publish/subscribe. A rotation
// handler publishes through it, and each application instance subscribes; delivery is at most
// once, which notices are designed for.
//
//	nc, err := nats.Connect(url, nats.MaxReconnects(-1)) // reconnect through any outage
//	t := natsnotice.New(nc)
//	h := rotate.NewHandler(client, rotate.PostgresSingleUser(), rotate.WithNotices(t))
//
// Restrict publishing to the rotator with subject permissions (see package notice): the
// rotator's user may publish on "rotasafe.notices", the applications' users may only
// subscribe to it.
package natsnotice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rotasafe/rotasafe/internal/droplog"
	"github.com/rotasafe/rotasafe/internal/logopt"
	"github.com/rotasafe/rotasafe/internal/option"
	"github.com/rotasafe/rotasafe/notice"
)

// DefaultSubject is the subject notices travel on unless WithSubject names another.
const DefaultSubject = "rotasafe.notices"

// Transport publishes and subscribes to notices on one NATS subject. It implements
// notice.Transport; it is safe for concurrent use, and owns no goroutine outside its calls.
type Transport struct {
	nc  *nats.Conn
	cfg config
}

var _ notice.Transport = (*Transport)(nil)

// Option configures New.
type Option func(*config)

type config struct {
	subject string
	logger  *slog.Logger // unset: slog.Default() at log time (logopt)
}

// WithSubject sets the subject (DefaultSubject, "rotasafe.notices", when not given). It must
// be a literal subject: no wildcards, no spaces, no empty tokens; otherwise New panics.
func WithSubject(s string) Option {
	return func(c *config) {
		if s == "" || strings.ContainsAny(s, "*> \t\r\n") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
			panic(fmt.Sprintf("natsnotice: WithSubject: %q is not a literal NATS subject", s))
		}
		c.subject = s
	}
}

// WithLogger sets where Subscribe logs notices that did not decode (never their content) and
// notices dropped because the handler was too slow. Without it they go to slog.Default() (read
// at log time); a nil l discards them.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = logopt.Given(l) } }

// New returns a transport over nc, which stays the caller's to close. nats.go reconnects nc
// through outages and restores its subscriptions; give it nats.MaxReconnects(-1) so that it
// never gives up (by default it closes after 60 failed attempts, which ends Subscribe). New
// panics when nc is nil.
func New(nc *nats.Conn, opts ...Option) *Transport {
	if nc == nil {
		panic("natsnotice: New with a nil *nats.Conn")
	}
	cfg := config{subject: DefaultSubject}
	option.Apply(&cfg, opts)
	return &Transport{nc: nc, cfg: cfg}
}

// Publish sends n on the subject and waits, within ctx (and 10 seconds if ctx has no
// deadline), until the server has it (a PING round trip). An invalid n is an error (*notice.Error); so is a server that is unreachable
// or denies the publish (nats.ErrPermissionViolation). A notice published while nc is
// reconnecting may still go out once it is back.
func (t *Transport) Publish(ctx context.Context, n notice.Notice) error {
	b, err := notice.Encode(n)
	if err != nil {
		return err
	}
	before := t.nc.LastError()
	if err := t.nc.Publish(t.cfg.subject, b); err != nil {
		return fmt.Errorf("natsnotice: publish on %s: %w", t.cfg.subject, err)
	}
	if err := t.flush(ctx); err != nil {
		return fmt.Errorf("natsnotice: publish on %s: %w", t.cfg.subject, err)
	}
	if err := t.denied(before, "publish"); err != nil {
		return err
	}
	return nil
}

// Subscribe delivers the notices published on the subject to handle until ctx ends, as
// notice.Transport says. nats.go restores the subscription after an outage. A server that
// denies the subscription, or nc closing for good, ends it with an error.
func (t *Transport) Subscribe(ctx context.Context, handle func(notice.Notice)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	before := t.nc.LastError()
	sub, err := t.nc.SubscribeSync(t.cfg.subject)
	if err != nil {
		return fmt.Errorf("natsnotice: subscribe to %s: %w", t.cfg.subject, err)
	}
	defer sub.Unsubscribe()
	// The server answers a denied subscription before the PONG of this flush. While nc is
	// reconnecting the flush fails; the subscription is restored with the connection.
	if err := t.flush(ctx); err == nil {
		if err := t.denied(before, "subscription"); err != nil {
			return err
		}
	}
	var bad, slow droplog.Log
	for {
		m, err := sub.NextMsgWithContext(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, nats.ErrSlowConsumer):
			slow.Dropped(t.logger(), "natsnotice: dropped notices; the handler is too slow", err, "subject", t.cfg.subject)
			continue
		case err != nil:
			return fmt.Errorf("natsnotice: subscribe to %s: %w", t.cfg.subject, err)
		}
		n, err := notice.Decode(m.Data)
		if err != nil {
			bad.Dropped(t.logger(), "natsnotice: dropped messages that are not notices", err, "subject", t.cfg.subject)
			continue
		}
		handle(n)
	}
}

// flushTimeout bounds a flush whose context has no deadline.
const flushTimeout = 10 * time.Second

// flush waits for the server's PONG within ctx, and within flushTimeout if ctx has no deadline.
func (t *Transport) flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	return t.nc.FlushWithContext(ctx)
}

// denied returns the permission violation the server reported for op ("publish" or
// "subscription") on the subject since the connection's last error was before.
func (t *Transport) denied(before error, op string) error {
	err := t.nc.LastError()
	if err == nil || err == before || !errors.Is(err, nats.ErrPermissionViolation) {
		return nil
	}
	if !strings.Contains(strings.ToLower(err.Error()), op+` to "`+strings.ToLower(t.cfg.subject)+`"`) {
		return nil
	}
	return fmt.Errorf("natsnotice: %s to %s: %w", op, t.cfg.subject, err)
}

func (t *Transport) logger() *slog.Logger { return logopt.Or(t.cfg.logger) }
