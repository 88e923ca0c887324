package smtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rotasafe/rotasafe"
)

// rotator is a registered rotation function: in-process or behind a Lambda invoke URL.
type rotator struct {
	fn  func(context.Context, rotasafe.Event) error
	url string
}

// RotationError records a rotation that stopped at a failing step. RotateSecret still
// answered 200, as AWS does; [Server.LastRotationError] returns it.
type RotationError struct {
	SecretARN string // the secret being rotated
	VersionID string // the ClientRequestToken of the rotation
	Step      string // the step that failed, e.g. "testSecret"
	Err       error  // what the function returned
}

// Error names the secret, the version and the step; the cause follows.
func (e *RotationError) Error() string {
	return fmt.Sprintf("smtest: rotation %s of %s failed at %s: %v", e.VersionID, e.SecretARN, e.Step, e.Err)
}

// Unwrap returns the function's error.
func (e *RotationError) Unwrap() error { return e.Err }

// RegisterRotationFunc makes RotateSecret with RotationLambdaARN lambdaARN call fn for each
// step, synchronously, inside the RotateSecret request. fn may call back into the server; its
// context is cancelled when the RotateSecret caller goes away or the server closes. A nil fn
// unregisters the ARN, after which RotateSecret answers AccessDeniedException as AWS does for a
// function it cannot invoke.
func (s *Server) RegisterRotationFunc(lambdaARN string, fn func(context.Context, rotasafe.Event) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn == nil {
		delete(s.rotators, lambdaARN)
		return
	}
	s.rotators[lambdaARN] = rotator{fn: fn}
}

// RegisterRotationURL makes RotateSecret with RotationLambdaARN lambdaARN invoke a Lambda
// function over HTTP, as the Lambda Runtime Interface Emulator serves one: each step is a
// POST of the event JSON to invokeURL + "/2015-03-31/functions/function/invocations" (or to
// invokeURL itself when it already ends in "/invocations"). A non-2xx answer, an
// X-Amz-Function-Error header, or a JSON body with errorMessage or errorType fails the step.
func (s *Server) RegisterRotationURL(lambdaARN, invokeURL string) {
	u := strings.TrimRight(invokeURL, "/")
	if !strings.HasSuffix(u, "/invocations") {
		u += "/2015-03-31/functions/function/invocations"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotators[lambdaARN] = rotator{url: u}
}

// LastRotationError returns how the last rotation of the secret ended: nil after success (or
// when it was never rotated), a *RotationError when a step failed. secretID is a name or ARN.
func (s *Server) LastRotationError(secretID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(&secretID)
	if err != nil {
		return nil
	}
	return s.rotErr[sec.arn]
}

// TriggerRotation rotates the secret the way AWS's scheduler does, with the stored Lambda
// ARN and rules. When the last rotation failed, or one is stalled (AWSPENDING on a version
// that is not AWSCURRENT), it re-runs the four steps with that rotation's token, as AWS
// retries a failed rotation; otherwise it starts a new rotation with an upper-case token, as scheduled rotations have.
// It returns the version ID, and an error when RotateSecret would have refused (no function
// configured or registered) or a step failed (a *RotationError, also kept for
// LastRotationError). It is not a request: Calls does not count it and faults do not apply.
func (s *Server) TriggerRotation(ctx context.Context, secretID string) (string, error) {
	s.mu.Lock()
	sec, aerr := s.lookupLive(&secretID)
	if aerr != nil {
		s.mu.Unlock()
		return "", aerr
	}
	stalled := ""
	if re, ok := s.rotErr[sec.arn].(*RotationError); ok && sec.versions[re.VersionID] != nil {
		stalled = re.VersionID
	} else if p := sec.holder(rotasafe.StagePending); p != nil && !p.has(rotasafe.StageCurrent) {
		stalled = p.id
	}
	if stalled != "" {
		rot, ok := s.rotators[sec.lambdaARN]
		s.mu.Unlock()
		if !ok {
			return "", errf(codeAccessDenied, "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.")
		}
		return stalled, s.runRotation(ctx, rot, sec, stalled, allSteps, nil)
	}
	s.mu.Unlock()
	tok := strings.ToUpper(newUUID())
	out, aerr := s.rotateSecret(ctx, &request{SecretId: &secretID, ClientRequestToken: &tok})
	if aerr != nil {
		return "", aerr
	}
	o := out.(obj)
	vid := o["VersionId"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	if re, ok := s.rotErr[o["ARN"].(string)].(*RotationError); ok && re.VersionID == vid {
		return vid, re
	}
	return vid, nil
}

var errNoTokenRotate = errf(codeInvalidParam, "You must provide a ClientRequestToken value. We recommend a UUID-type value.")

func (s *Server) rotateSecret(ctx context.Context, req *request) (any, *apiError) {
	if err := checkToken(req.ClientRequestToken, errNoTokenRotate); err != nil {
		return nil, err
	}
	tok := *req.ClientRequestToken
	immediate := boolv(req.RotateImmediately, true)

	s.mu.Lock()
	sec, err := s.lookupLive(req.SecretId)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	lambdaARN := str(req.RotationLambdaARN)
	if lambdaARN == "" {
		lambdaARN = sec.lambdaARN
	}
	if lambdaARN == "" {
		s.mu.Unlock()
		return nil, errf(codeInvalidReq, "No Lambda rotation function ARN is associated with this secret.")
	}
	rot, ok := s.rotators[lambdaARN]
	if !ok {
		s.mu.Unlock()
		return nil, errf(codeAccessDenied, "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.")
	}
	if err := checkRules(req.RotationRules); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if p := sec.holder(rotasafe.StagePending); p != nil && !p.has(rotasafe.StageCurrent) {
		s.mu.Unlock()
		return nil, errf(codeInvalidReq, "A previous rotation isn't complete. That rotation will be reattempted.")
	}
	if _, ok := sec.versions[tok]; ok {
		s.mu.Unlock()
		return nil, tokenInUse(tok, sec.arn)
	}
	var cur *version
	if !immediate {
		if cur = sec.holder(rotasafe.StageCurrent); cur == nil || !cur.hasValue {
			s.mu.Unlock()
			return nil, errf(codeInvalidReq, "The secret has no AWSCURRENT value to test.")
		}
	}

	now := s.now()
	enabled := true
	sec.rotationEnabled = &enabled
	sec.lambdaARN = lambdaARN
	if req.RotationRules != nil {
		r := *req.RotationRules
		sec.rules = &r
	}
	sec.lastChanged = now
	pending := &version{id: tok, created: now}
	if !immediate {
		pending.setValue(cur.str, cur.bin)
	}
	sec.addVersion(pending)
	sec.moveStage(rotasafe.StagePending, pending)
	arn := sec.arn
	s.mu.Unlock()

	var copied *version // the pending copy RotateImmediately=false tests, then unlabels
	steps := allSteps
	if !immediate {
		steps, copied = []string{rotasafe.StepTestSecret}, pending
	}
	s.runRotation(ctx, rot, sec, tok, steps, copied)
	return obj{"ARN": arn, "Name": sec.name, "VersionId": tok}, nil
}

var allSteps = []string{rotasafe.StepCreateSecret, rotasafe.StepSetSecret, rotasafe.StepTestSecret, rotasafe.StepFinishSecret}

// runRotation invokes the steps for version tok with a fresh RotationToken, stopping at the
// first failure, and records the outcome. copied is the pending copy of a
// RotateImmediately=false rotation, nil otherwise. The caller must not hold s.mu.
func (s *Server) runRotation(ctx context.Context, rot rotator, sec *secret, tok string, steps []string, copied *version) error {
	rotationToken := newUUID()
	s.mu.Lock()
	arn := sec.arn
	s.active[arn] = rotationToken
	s.mu.Unlock()

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.baseCtx, cancel)
	defer stop()
	var rotErr error
	for _, step := range steps {
		ev := rotasafe.Event{SecretID: arn, ClientRequestToken: tok, Step: step, RotationToken: rotationToken}
		if err := s.invoke(rctx, rot, ev); err != nil {
			rotErr = &RotationError{SecretARN: arn, VersionID: tok, Step: step, Err: err}
			break
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[arn] == rotationToken {
		delete(s.active, arn)
	}
	if rotErr != nil {
		s.rotErr[arn] = rotErr
	} else {
		delete(s.rotErr, arn)
	}
	now := s.now()
	if copied != nil {
		removeStage(copied, rotasafe.StagePending)
	} else if rotErr == nil {
		sec.lastRotated = now
	}
	if sec.rules != nil && sec.rules.AutomaticallyAfterDays != nil && (rotErr == nil || copied != nil) {
		sec.nextRotation = now.Add(time.Duration(*sec.rules.AutomaticallyAfterDays) * 24 * time.Hour)
	}
	sec.prune(now, s.cfg.keepAll)
	return rotErr
}

// checkRules validates RotationRules: days xor schedule, days in 1–1000.
func checkRules(r *rotationRules) *apiError {
	if r == nil {
		return nil
	}
	if r.AutomaticallyAfterDays != nil && r.ScheduleExpression != nil {
		return errf(codeInvalidParam, "You can't specify both AutomaticallyAfterDays and ScheduleExpression in RotationRules.")
	}
	if d := r.AutomaticallyAfterDays; d != nil && (*d < 1 || *d > 1000) {
		return errf(codeInvalidParam, "RotationRules.AutomaticallyAfterDays must be between 1 and 1000.")
	}
	return nil
}

// invoke runs one rotation step, in-process or over HTTP. The server holds no lock.
func (s *Server) invoke(ctx context.Context, rot rotator, ev rotasafe.Event) (err error) {
	if rot.fn != nil {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("rotation function panicked in %s", ev.Step)
			}
		}()
		return rot.fn(ctx, ev)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, rot.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build Lambda invoke request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return fmt.Errorf("invoke Lambda at %s: %w", rot.url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the Lambda invoke answered HTTP %d", resp.StatusCode)
	}
	var fe struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	isErr := resp.Header.Get("X-Amz-Function-Error") != ""
	if json.Unmarshal(out, &fe) == nil && (fe.ErrorMessage != "" || fe.ErrorType != "") {
		isErr = true
	}
	if isErr {
		return &FunctionError{Type: fe.ErrorType, Message: fe.ErrorMessage}
	}
	return nil
}

// FunctionError is a Lambda function error: the invoke answered, but the function failed.
type FunctionError struct {
	Type    string // errorType, e.g. "errorString"
	Message string // errorMessage, as the function wrote it
}

// Error reports the function's errorType and errorMessage.
func (e *FunctionError) Error() string {
	return fmt.Sprintf("Lambda function error %s: %s", e.Type, e.Message)
}
