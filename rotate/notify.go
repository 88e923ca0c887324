package rotate

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/notice"
)

// noticeTimeout bounds each notice the Handler publishes (see WithNotices).
const noticeTimeout = time.Second

// WithNotices makes the Handler announce its rotations through p, so that applications
// listening on the other side try the new password before their logins fail. After each
// step that changes what applications should try, it publishes a notice.Notice naming the
// secret's ARN and the rotation's version, never a value:
//
//   - createSecret: notice.PendingStored, once AWSPENDING holds the new value (also when a
//     retried step finds it stored already);
//   - setSecret: notice.PasswordChanged, right after the service accepted the new value;
//   - finishSecret: notice.Finished, once AWSCURRENT has moved.
//
// Publishing is best effort: it waits at most a second (less if the step's context ends
// sooner), and a notice that cannot be sent is logged (secret, version, kind and the cause)
// and never fails the step. A nil p publishes nothing.
//
// With WithNoticeLead the handler also announces ahead, so that no login of the fleet fails.
func WithNotices(p notice.Publisher) Option {
	return func(c *handlerConfig) { c.notices = p }
}

// DefaultNoticeSettle is how long setSecret waits after notice.PasswordChanging before it
// changes the password (WithNoticeSettle).
const DefaultNoticeSettle = 250 * time.Millisecond

// leadMargin is the time a step keeps for itself before its context's deadline (a Lambda
// function's timeout) when it waits out the lead.
const leadMargin = 2 * noticeTimeout

// WithNoticeLead makes a Handler with notices (WithNotices) announce a rotation ahead of the
// password change, so that a fleet listening through cache.WithNotices makes no failed login
// and reads the new version once per instance, spread over the lead:
//
//   - createSecret publishes notice.PendingStored carrying the lead, then waits it out;
//     listeners read the new version at random moments within it;
//   - setSecret publishes notice.PasswordChanging, waits the settle (WithNoticeSettle) so
//     that logins already under way finish, changes the password, and publishes
//     notice.PasswordChanged; in between, listeners that read the version hold new logins
//     (cache.WithNoticeHold), and open connections are never touched.
//
// What it costs, and how to size it: each instance reads the new version once, at a random
// moment within the lead, so a fleet of N instances reads at about N ÷ lead requests a
// second; a lead of at least N ÷ the account's GetSecretValue quota per second keeps it under
// the quota (10,000 instances on 10,000/s: 1 s; 2 s leaves half the quota to other reads).
// New logins wait through the settle and the change (at most the caches' hold bound,
// cache.WithNoticeHold, 2 s by default), and the rotation takes the lead longer. The lead is cut to the step's context deadline (a Lambda function's timeout) less 2 s, and
// waited only when the notice went out. 0, the default, announces as before and waits for
// nothing; a negative d makes NewHandler panic.
func WithNoticeLead(d time.Duration) Option {
	return func(c *handlerConfig) {
		if d < 0 || d > notice.MaxLead {
			panic(fmt.Sprintf("rotate: WithNoticeLead(%v): lead is outside 0 to %v", d, notice.MaxLead))
		}
		c.lead = d
	}
}

// WithNoticeSettle sets how long setSecret waits between notice.PasswordChanging and the
// password change (WithNoticeLead; DefaultNoticeSettle by default): the time a login that
// chose the old password just before the notice arrived needs to finish. It should exceed
// the notice's delivery plus one login. Zero keeps the default; a negative d makes
// NewHandler panic.
func WithNoticeSettle(d time.Duration) Option {
	return func(c *handlerConfig) {
		if d < 0 {
			panic(fmt.Sprintf("rotate: WithNoticeSettle(%v): settle is negative", d))
		}
		if d > 0 {
			c.settle = d
		}
	}
}

// noticeKinds maps the steps that publish to what their notice says.
var noticeKinds = map[string]notice.Kind{
	rotasafe.StepCreateSecret: notice.PendingStored,
	rotasafe.StepSetSecret:    notice.PasswordChanged,
	rotasafe.StepFinishSecret: notice.Finished,
}

// announce publishes the notice of a step that succeeded on the secret whose ARN is arn. With
// a lead (WithNoticeLead), createSecret's notice carries it and announce waits it out.
func (h *Handler) announce(ctx context.Context, ev rotasafe.Event, arn string) {
	kind, ok := noticeKinds[ev.Step]
	if !ok {
		return
	}
	var lead time.Duration
	if kind == notice.PendingStored {
		lead = h.lead(ctx)
	}
	if h.send(ctx, ev, arn, kind, lead) && lead > 0 {
		h.log(ctx, slog.LevelDebug, "waiting out the notice lead", ev, slog.Duration("lead", lead))
		wait(ctx, lead)
	}
}

// announceChanging publishes notice.PasswordChanging before setSecret changes the password,
// and waits the settle, when the Handler announces ahead (WithNoticeLead).
func (h *Handler) announceChanging(ctx context.Context, ev rotasafe.Event, arn string) {
	if h.cfg.lead <= 0 || ev.Step != rotasafe.StepSetSecret {
		return
	}
	if h.send(ctx, ev, arn, notice.PasswordChanging, 0) {
		wait(ctx, h.cfg.settle)
	}
}

// lead returns how long createSecret waits after announcing: the configured lead, cut so
// that leadMargin remains before ctx's deadline.
func (h *Handler) lead(ctx context.Context) time.Duration {
	d := h.cfg.lead
	if dl, ok := ctx.Deadline(); ok && d > 0 {
		d = max(0, min(d, time.Until(dl)-leadMargin))
	}
	return d
}

// send publishes one notice of kind about the rotation ev names, and reports whether the
// transport took it.
func (h *Handler) send(ctx context.Context, ev rotasafe.Event, arn string, kind notice.Kind, lead time.Duration) bool {
	p := h.cfg.notices
	if p == nil {
		return false
	}
	n := notice.Notice{SecretARN: arn, VersionID: ev.ClientRequestToken, Kind: kind, At: time.Now(), Lead: lead.Truncate(time.Millisecond)}
	pctx, cancel := context.WithTimeout(ctx, noticeTimeout)
	defer cancel()
	if err := publish(pctx, p, n); err != nil {
		h.log(ctx, slog.LevelWarn, "could not publish the rotation notice; applications will find the new version by themselves", ev,
			slog.String("kind", string(kind)), slog.String("error", err.Error()))
		return false
	}
	h.tm.NoticePublished(ctx, ev.SecretID, kind)
	h.log(ctx, slog.LevelDebug, "rotation notice published", ev, slog.String("kind", string(kind)))
	return true
}

// wait sleeps for d or until ctx ends.
func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// publish calls p.Publish, turning a panic into an error: a notice never fails a step.
func publish(ctx context.Context, p notice.Publisher, n notice.Notice) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the notice publisher panicked: %v", r)
		}
	}()
	return p.Publish(ctx, n)
}
