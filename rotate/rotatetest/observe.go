package rotatetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/rotate"
)

// observer wraps the Strategy under test: it turns a panic into an error and a Failure, and,
// while the run watches, checks that Create and Test leave the service as it was. It makes
// no Secrets Manager call of its own, so that the calls a check counts are the rotation's.
type observer struct {
	s rotate.Strategy
	r *run
}

var _ rotate.Strategy = (*observer)(nil)

func (o *observer) Create(ctx context.Context, sc *rotate.StepContext) (v string, err error) {
	defer o.catch(sc.Step, &err)
	watch := o.r.watching()
	var before service
	if watch {
		before = o.r.service(ctx, sc.Current.SecretString)
	}
	v, err = o.s.Create(ctx, sc)
	if watch && err == nil {
		if d := before.diff(o.r.service(ctx, sc.Current.SecretString)); d != "" {
			o.r.fail(sc.Step, InvariantCreateNoChange, d)
		} else if o.r.cfg.Login(ctx, v) == nil {
			o.r.fail(sc.Step, InvariantCreateNoChange, "the value Create returned logs in already")
		}
	}
	return v, err
}

func (o *observer) Set(ctx context.Context, sc *rotate.StepContext) (err error) {
	defer o.catch(sc.Step, &err)
	return o.s.Set(ctx, sc)
}

func (o *observer) Test(ctx context.Context, sc *rotate.StepContext) (err error) {
	defer o.catch(sc.Step, &err)
	watch := o.r.watching()
	var before service
	if watch {
		before = o.r.service(ctx, sc.Current.SecretString, sc.Pending.SecretString)
	}
	err = o.s.Test(ctx, sc)
	if watch {
		if d := before.diff(o.r.service(ctx, sc.Current.SecretString, sc.Pending.SecretString)); d != "" {
			o.r.fail(sc.Step, InvariantTestNoChange, d)
		}
	}
	return err
}

// catch turns a panic of the strategy into an error and a Failure.
func (o *observer) catch(step string, err *error) {
	p := recover()
	if p == nil {
		return
	}
	msg := fmt.Sprint(p)
	o.r.mu.Lock()
	o.r.errs = append(o.r.errs, stepError{step: step, check: o.r.check, point: o.r.point, msg: msg})
	o.r.mu.Unlock()
	o.r.fail(step, InvariantNoPanic, "the strategy panicked")
	*err = fmt.Errorf("rotatetest: the strategy panicked in %s", step)
}

func (r *run) watching() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.watch
}

func (r *run) setWatch(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watch = on
}

// service is what the kit sees of the service: which values log in, and a digest of what
// Config.Accepted lists.
type service struct {
	logins   map[string]bool // by value
	accepted string          // digest; "" without Config.Accepted
	err      string          // Config.Accepted failed
}

// service digests Config.Accepted or, without it, logs in with the values the run knows of
// and extra.
func (r *run) service(ctx context.Context, extra ...string) service {
	r.mu.Lock()
	values := append(slices.Clone(r.known), extra...)
	r.mu.Unlock()
	s := service{logins: map[string]bool{}}
	if r.cfg.Accepted != nil { // what the service accepts says it all, without a login per value
		list, err := r.accepted(ctx)
		if err != nil {
			s.err = "Config.Accepted failed"
		}
		s.accepted = digest(list)
		return s
	}
	for _, v := range values {
		if _, done := s.logins[v]; !done && v != "" {
			s.logins[v] = r.cfg.Login(ctx, v) == nil
		}
	}
	return s
}

// diff describes how after differs from s, naming no value: "" when it does not.
func (s service) diff(after service) string {
	var d []string
	gained, lost := 0, 0
	for v, ok := range s.logins {
		switch a, seen := after.logins[v]; {
		case !seen:
		case ok && !a:
			lost++
		case !ok && a:
			gained++
		}
	}
	if lost > 0 {
		d = append(d, fmt.Sprintf("%d value(s) of the secret that logged in no longer do", lost))
	}
	if gained > 0 {
		d = append(d, fmt.Sprintf("%d value(s) of the secret that did not log in now do", gained))
	}
	if s.err != "" || after.err != "" {
		d = append(d, "Config.Accepted failed")
	} else if s.accepted != after.accepted {
		d = append(d, "what the service accepts (Config.Accepted) changed")
	}
	return strings.Join(d, "; ")
}

// digest is a digest of list, in any order.
func digest(list []string) string {
	list = slices.Clone(list)
	slices.Sort(list)
	h := sha256.New()
	for _, s := range list {
		fmt.Fprintf(h, "%d:%s\n", len(s), s)
	}
	return string(h.Sum(nil))
}

// state is what a step may change, for the checks that run a step again: the labels, the
// values of the three stages (as digests), which of them log in, and what the service
// accepts.
type state struct {
	labels   string
	values   [3]string
	logins   [3]bool
	accepted string
}

var stages = [3]string{rotasafe.StageCurrent, rotasafe.StagePending, rotasafe.StagePrevious}

// state reads the state of the secret and the service.
func (r *run) state(ctx context.Context) (state, error) {
	var st state
	l := r.srv.Stages(r.id)
	for _, stage := range stages {
		id, _ := l.VersionOf(stage)
		st.labels += stage + "=" + id + " "
	}
	for i, stage := range stages {
		v, ok, err := r.value(stage)
		if err != nil {
			return st, err
		}
		if ok {
			st.values[i] = digest([]string{v})
			st.logins[i] = r.cfg.Login(ctx, v) == nil
		}
	}
	if r.cfg.Accepted != nil {
		list, err := r.accepted(ctx)
		if err != nil {
			return st, fmt.Errorf("Config.Accepted: %w", err)
		}
		st.accepted = digest(list)
	}
	return st, nil
}

// diff describes how after differs from st, naming no value: "" when it does not.
func (st state) diff(after state) string {
	var d []string
	if st.labels != after.labels {
		d = append(d, "the staging labels")
	}
	for i, stage := range stages {
		if st.values[i] != after.values[i] {
			d = append(d, "the value of "+stage)
		}
		if st.logins[i] != after.logins[i] {
			d = append(d, fmt.Sprintf("whether %s logs in (%v before, %v after)", stage, st.logins[i], after.logins[i]))
		}
	}
	if st.accepted != after.accepted {
		d = append(d, "what the service accepts (Config.Accepted)")
	}
	return strings.Join(d, ", ")
}
