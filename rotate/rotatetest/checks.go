package rotatetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/smtest"
)

// stepOf returns the step a failed rotation stopped at, or "".
func stepOf(err error) string {
	if re, ok := errors.AsType[*smtest.RotationError](err); ok {
		return re.Step
	}
	return ""
}

// before is what a check remembers of the secret before a rotation.
type before struct {
	previous string // the value of AWSPREVIOUS, "" when none
}

func (r *run) before() (before, error) {
	v, _, err := r.value(rotasafe.StagePrevious)
	return before{previous: v}, err
}

// clean runs one rotation that must succeed, with d driving its steps, and checks its end.
func (r *run) clean(point string, d func(context.Context, rotasafe.Event) error) *Failure {
	b, err := r.before()
	if err != nil {
		return r.failure(point, "", InvariantFinished, "read the secret: %v", err)
	}
	r.setDriver(point, d)
	token := r.newToken()
	start := r.srv.Calls("")
	err = r.rotateSecret(token)
	r.mu.Lock()
	r.lastCalls = r.srv.Calls("") - start
	r.mu.Unlock()
	r.setDriver("", nil)
	if f := r.takeFailure(); f != nil {
		return f
	}
	if err != nil {
		return r.failure(point, stepOf(err), InvariantStepSucceeds, "the rotation failed: %s", r.redact(err))
	}
	return r.finished(point, token, b)
}

// finished checks the state a finished rotation leaves: token (when not "") holds
// AWSCURRENT, AWSPENDING is on no other version, AWSCURRENT logs in, AWSPREVIOUS logs in as
// the scenario says, the value AWSPREVIOUS had before the rotation no longer logs in, and
// AWSCURRENT's value is new.
func (r *run) finished(point, token string, b before) *Failure {
	l := r.srv.Stages(r.id)
	cur, _ := l.VersionOf(rotasafe.StageCurrent)
	if token != "" && cur != token {
		return r.failure(point, "", InvariantFinished, "version %s holds AWSCURRENT, want the rotation's %s", cur, token)
	}
	if p, ok := l.VersionOf(rotasafe.StagePending); ok && p != cur {
		return r.failure(point, "", InvariantFinished, "AWSPENDING is left on version %s, AWSCURRENT on %s", p, cur)
	}
	curV, _, err := r.value(rotasafe.StageCurrent)
	if err != nil {
		return r.failure(point, "", InvariantFinished, "read AWSCURRENT: %v", err)
	}
	if err := r.cfg.Login(r.ctx, curV); err != nil {
		return r.failure(point, "", InvariantFinished, "AWSCURRENT does not log in: %s", r.redact(err))
	}
	prevV, hasPrev, err := r.value(rotasafe.StagePrevious)
	if err != nil {
		return r.failure(point, "", InvariantFinished, "read AWSPREVIOUS: %v", err)
	}
	if hasPrev {
		err := r.cfg.Login(r.ctx, prevV)
		switch keeps := r.cfg.Scenario.KeepsCurrent(); {
		case keeps && err != nil:
			return r.failure(point, "", InvariantPrevious, "AWSPREVIOUS does not log in, which the %s scenario promises until the next rotation: %s", r.cfg.Scenario, r.redact(err))
		case !keeps && err == nil && prevV != curV:
			return r.failure(point, "", InvariantPrevious, "AWSPREVIOUS still logs in after a %s rotation", r.cfg.Scenario)
		}
	}
	if hasPrev && token != "" && cur == token && r.cfg.Scenario == rotate.ScenarioAlternatingUsers && shape(curV) == shape(prevV) {
		return r.failure(point, "", InvariantAlternates, "AWSCURRENT and AWSPREVIOUS differ in the password only")
	}
	if b.previous != "" && b.previous != curV && b.previous != prevV && r.cfg.Login(r.ctx, b.previous) == nil {
		return r.failure(point, "", InvariantOlderRejected, "the value AWSPREVIOUS had before the rotation still logs in")
	}
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	isNew := !r.seen[curV]
	if token != "" && cur == token && !isNew {
		r.mu.Unlock()
		return r.failure(point, "", InvariantNewValue, "AWSCURRENT has a value an earlier version had")
	}
	r.seen[curV], r.seen[prevV] = true, true
	r.mu.Unlock()
	r.remember(prevV, curV)
	return nil
}

// rotations runs Config.Rotations full rotations, watching Create and Test.
func (r *run) rotations() *Failure {
	r.setWatch(true)
	defer r.setWatch(false)
	for i := 1; i <= r.cfg.Rotations; i++ {
		if f := r.clean(fmt.Sprintf("rotation %d of %d", i, r.cfg.Rotations), nil); f != nil {
			return f
		}
	}
	return nil
}

// stepsTwice runs two rotations (both ways, for alternating users) with every step twice in
// a row; the second run must succeed and change nothing.
func (r *run) stepsTwice() *Failure {
	for i := 1; i <= 2; i++ {
		if f := r.clean(fmt.Sprintf("rotation %d of 2", i), r.again(false)); f != nil {
			return f
		}
	}
	return nil
}

// replays runs two rotations in which each step runs again after the next one ran.
func (r *run) replays() *Failure {
	for i := 1; i <= 2; i++ {
		if f := r.clean(fmt.Sprintf("rotation %d of 2", i), r.again(true)); f != nil {
			return f
		}
	}
	return nil
}

// again returns a driver that runs each step, then again: the same step, or with previous
// the step before it.
func (r *run) again(previous bool) func(context.Context, rotasafe.Event) error {
	order := map[string]int{rotasafe.StepCreateSecret: 0, rotasafe.StepSetSecret: 1, rotasafe.StepTestSecret: 2, rotasafe.StepFinishSecret: 3}
	all := []string{rotasafe.StepCreateSecret, rotasafe.StepSetSecret, rotasafe.StepTestSecret, rotasafe.StepFinishSecret}
	return func(ctx context.Context, ev rotasafe.Event) error {
		if err := r.step(ctx, ev); err != nil {
			return err
		}
		re := ev
		if previous {
			i := order[ev.Step]
			if i == 0 {
				return nil
			}
			re.Step = all[i-1]
		}
		once, err := r.state(ctx)
		if err != nil {
			r.fail(re.Step, InvariantRepeatable, "read the state: "+err.Error())
			return err
		}
		if err := r.step(ctx, re); err != nil {
			r.fail(re.Step, InvariantRepeatable, "run again after "+ev.Step+", it failed: "+r.redact(err))
			return err
		}
		twice, err := r.state(ctx)
		if err != nil {
			r.fail(re.Step, InvariantRepeatable, "read the state: "+err.Error())
			return err
		}
		if d := once.diff(twice); d != "" {
			r.fail(re.Step, InvariantRepeatable, "run again after "+ev.Step+", it changed "+d)
		}
		return nil
	}
}

// errInterrupted stops a rotation between steps.
var errInterrupted = errors.New("rotatetest: rotation interrupted between steps")

// interruptCalls fails each Secrets Manager call of a rotation in turn, then resumes the
// rotation as Secrets Manager retries it. A rotation that alternates between values of
// another shape (alternating users) is interrupted at each call going each way.
func (r *run) interruptCalls() *Failure {
	if f := r.clean("a clean rotation, to count its calls", nil); f != nil {
		return f
	}
	r.mu.Lock()
	n := r.lastCalls
	r.mu.Unlock()
	ways := 1
	if r.cfg.Scenario == rotate.ScenarioAlternatingUsers {
		ways = 2
	}
	done := map[string]bool{}
	for tries := 0; len(done) < ways*n && tries < 3*ways*n; tries++ {
		way, err := r.way()
		if err != nil {
			return r.failure("", "", InvariantFinished, "read AWSCURRENT: %v", err)
		}
		k := 1
		for k < n && done[fmt.Sprint(way, k)] {
			k++
		}
		done[fmt.Sprint(way, k)] = true
		point := fmt.Sprintf("Secrets Manager call %d of %d failed", k, n)
		if ways > 1 {
			point += fmt.Sprintf(" (from the %s value)", []string{"first", "second"}[way])
		}
		if f := r.interrupted(point, func() { r.srv.Faults().FailAt(k, "InternalServiceError") }, nil); f != nil {
			return f
		}
	}
	return nil
}

// way tells the two shapes of an alternating secret apart: 0 while AWSCURRENT has the shape
// of the first value (its fields but the password), 1 otherwise.
func (r *run) way() (int, error) {
	v, _, err := r.value(rotasafe.StageCurrent)
	if err != nil {
		return 0, err
	}
	if shape(v) == shape(r.cfg.Secret) {
		return 0, nil
	}
	return 1, nil
}

// shape is a JSON secret without its secret parts; "" for another secret.
func shape(v string) string {
	var obj map[string]any
	if json.Unmarshal([]byte(v), &obj) != nil {
		return ""
	}
	delete(obj, "password")
	b, _ := json.Marshal(obj)
	return string(b)
}

// interruptSteps stops a rotation after each step but the last in turn (twice over, so that
// an alternating rotation is stopped going both ways), then resumes it.
func (r *run) interruptSteps() *Failure {
	for round := range 2 {
		for _, after := range []string{rotasafe.StepCreateSecret, rotasafe.StepSetSecret, rotasafe.StepTestSecret} {
			point := fmt.Sprintf("stopped after %s (round %d of 2)", after, round+1)
			if f := r.interrupted(point, nil, func(ctx context.Context, ev rotasafe.Event) error {
				if err := r.step(ctx, ev); err != nil {
					return err
				}
				if ev.Step == after {
					return errInterrupted
				}
				return nil
			}); f != nil {
				return f
			}
		}
	}
	return nil
}

// interrupted runs one rotation with arm's faults (cleared when the rotation ends) and
// driver d, checks the state it leaves, resumes it and checks the end.
func (r *run) interrupted(point string, arm func(), d func(context.Context, rotasafe.Event) error) *Failure {
	b, err := r.before()
	if err != nil {
		return r.failure(point, "", InvariantFinished, "read the secret: %v", err)
	}
	token := r.newToken()
	r.setDriver(point, d)
	if arm != nil {
		arm()
	}
	err = r.rotateSecret(token)
	r.srv.Faults().Clear()
	r.setDriver("", nil)
	if f := r.takeFailure(); f != nil {
		return f
	}
	step := stepOf(err)
	curV, hasCur, err := r.value(rotasafe.StageCurrent)
	if err != nil {
		return r.failure(point, step, InvariantWorking, "read AWSCURRENT: %v", err)
	}
	curOK := hasCur && r.cfg.Login(r.ctx, curV) == nil
	pendOK := false
	if pendV, ok, err := r.value(rotasafe.StagePending); err != nil {
		return r.failure(point, step, InvariantWorking, "read AWSPENDING: %v", err)
	} else if ok && !curOK {
		pendOK = r.cfg.Login(r.ctx, pendV) == nil
	}
	switch {
	case !curOK && !pendOK:
		return r.failure(point, step, InvariantWorking, "neither AWSCURRENT nor AWSPENDING logs in")
	case !curOK && r.cfg.Scenario.KeepsCurrent():
		return r.failure(point, step, InvariantCurrentWorks, "AWSCURRENT does not log in, which the %s scenario promises", r.cfg.Scenario)
	}
	if r.srv.Stages(r.id).RotationInProgress() || r.srv.LastRotationError(r.id) != nil {
		if _, err := r.srv.TriggerRotation(r.ctx, r.id); err != nil {
			if f := r.takeFailure(); f != nil {
				return f
			}
			return r.failure(point, stepOf(err), InvariantResumes, "the resumed rotation failed: %s", r.redact(err))
		}
	}
	if f := r.takeFailure(); f != nil {
		return f
	}
	if _, made := r.srv.Stages(r.id)[token]; !made {
		token = "" // the interruption came before Secrets Manager made the version
	}
	return r.finished(point, token, b)
}

// concurrent runs two in-process rotations at once, which must both succeed one after the
// other, then starts a RotateSecret while a rotation runs, which must be refused and leave the
// running one to finish.
func (r *run) concurrent() *Failure {
	point := "two Handler.Rotate calls at once"
	b, err := r.before()
	if err != nil {
		return r.failure(point, "", InvariantFinished, "read the secret: %v", err)
	}
	r.setDriver(point, nil)
	var wg sync.WaitGroup
	var tokens [2]string
	var errs [2]error
	for i := range 2 {
		wg.Go(func() { tokens[i], errs[i] = r.h.Rotate(r.ctx, r.id) })
	}
	wg.Wait()
	if f := r.takeFailure(); f != nil {
		return f
	}
	for i, err := range errs {
		if err != nil {
			r.mu.Lock()
			r.errs = append(r.errs, stepError{step: stepOfStepError(err), check: r.check, point: point, msg: err.Error()})
			r.mu.Unlock()
			return r.failure(point, stepOfStepError(err), InvariantSerialised, "rotation %d of 2 failed: %s", i+1, r.redact(err))
		}
	}
	l := r.srv.Stages(r.id)
	if tokens[0] == tokens[1] || !(l.Has(tokens[0], rotasafe.StageCurrent) && l.Has(tokens[1], rotasafe.StagePrevious) ||
		l.Has(tokens[1], rotasafe.StageCurrent) && l.Has(tokens[0], rotasafe.StagePrevious)) {
		return r.failure(point, "", InvariantSerialised, "the two rotations did not run one after the other: want one version AWSCURRENT, the other AWSPREVIOUS")
	}
	cur, _ := l.VersionOf(rotasafe.StageCurrent)
	if f := r.finished(point, cur, b); f != nil {
		return f
	}

	point = "RotateSecret while a rotation runs"
	first, second := r.newToken(), r.newToken()
	blocked, release := make(chan struct{}), make(chan struct{})
	var ranSecond bool
	r.setDriver(point, func(ctx context.Context, ev rotasafe.Event) error {
		if ev.ClientRequestToken == second {
			r.mu.Lock()
			ranSecond = true
			r.mu.Unlock()
		}
		err := r.step(ctx, ev)
		if ev.ClientRequestToken == first && ev.Step == rotasafe.StepSetSecret {
			close(blocked)
			<-release
		}
		return err
	})
	done := make(chan error, 1)
	go func() { done <- r.rotateSecret(first) }()
	var firstErr error
	select {
	case <-blocked:
		_, err := r.api.RotateSecret(r.ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(r.id), ClientRequestToken: aws.String(second)})
		close(release)
		firstErr = <-done
		if err == nil {
			r.mu.Lock()
			ran := ranSecond
			r.mu.Unlock()
			if ran {
				r.setDriver("", nil)
				return r.failure(point, "", InvariantSerialised, "the second RotateSecret ran its steps while the first rotation ran")
			}
		}
	case firstErr = <-done:
	}
	r.setDriver("", nil)
	if f := r.takeFailure(); f != nil {
		return f
	}
	if firstErr != nil {
		return r.failure(point, stepOf(firstErr), InvariantSerialised, "the first rotation failed: %s", r.redact(firstErr))
	}
	return r.finished(point, first, before{})
}

// stepOfStepError returns the step a *rotate.StepError names, or "".
func stepOfStepError(err error) string {
	if se, ok := errors.AsType[*rotate.StepError](err); ok {
		return se.Step
	}
	return ""
}

// recover brings the secret back to a finished rotation after a failed check, and reports
// whether AWSCURRENT then logs in, so that the next check may run.
func (r *run) recover() bool {
	r.srv.Faults().Clear()
	r.setDriver("", nil)
	r.setWatch(false)
	if r.srv.Stages(r.id).RotationInProgress() || r.srv.LastRotationError(r.id) != nil {
		if _, err := r.srv.TriggerRotation(r.ctx, r.id); err != nil {
			return false
		}
	}
	r.takeFailure()
	if r.srv.Stages(r.id).RotationInProgress() {
		return false
	}
	v, ok, err := r.value(rotasafe.StageCurrent)
	return err == nil && ok && r.cfg.Login(r.ctx, v) == nil
}
