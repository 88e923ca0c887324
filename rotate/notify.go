package rotate

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/notice"
)

// NoticeTimeout bounds each notice the Handler publishes (see WithNotices).
const NoticeTimeout = time.Second

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
// Publishing is best effort: it waits at most NoticeTimeout (less if the step's context ends
// sooner), and a notice that cannot be sent is logged (secret, version, kind and the cause)
// and never fails the step. A nil p publishes nothing.
func WithNotices(p notice.Publisher) Option {
	return func(c *handlerConfig) { c.notices = p }
}

// noticeKinds maps the steps that publish to what their notice says.
var noticeKinds = map[string]notice.Kind{
	rotasafe.StepCreateSecret: notice.PendingStored,
	rotasafe.StepSetSecret:    notice.PasswordChanged,
	rotasafe.StepFinishSecret: notice.Finished,
}

// announce publishes the notice of a step that succeeded on the secret whose ARN is arn.
func (h *Handler) announce(ctx context.Context, ev rotasafe.Event, arn string) {
	p := h.cfg.notices
	kind, ok := noticeKinds[ev.Step]
	if p == nil || !ok {
		return
	}
	n := notice.Notice{SecretARN: arn, VersionID: ev.ClientRequestToken, Kind: kind, At: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, NoticeTimeout)
	defer cancel()
	if err := publish(ctx, p, n); err != nil {
		h.log(ctx, slog.LevelWarn, "could not publish the rotation notice; applications will find the new version by themselves", ev,
			slog.String("kind", string(kind)), slog.String("error", err.Error()))
		return
	}
	h.tm.NoticePublished(ctx, ev.SecretID, kind)
	h.log(ctx, slog.LevelDebug, "rotation notice published", ev, slog.String("kind", string(kind)))
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
