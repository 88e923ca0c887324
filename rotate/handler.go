package rotate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/logopt"
	"github.com/rotasafe/rotasafe/internal/telemetry"
)

// scope is the instrumentation scope of the Handler's metrics: the package's import path.
const scope = "github.com/rotasafe/rotasafe/rotate"

// Handler runs the rotation steps of one Strategy: [Handler.Handle] the step an Event names,
// as Secrets Manager calls a Lambda function, [Handler.Rotate] all four in process. It owns
// the checks AWS's rotation templates share, and calls the Strategy only past them:
//
//   - the secret exists and has rotation enabled (Handle only);
//   - the token is a version of the secret; if it already holds AWSCURRENT there is nothing to
//     do; if it does not hold AWSPENDING the step fails;
//   - createSecret stores a value only when the token's AWSPENDING version has none yet;
//   - finishSecret moves AWSCURRENT to the token with rotasafe.Promote (AWSPREVIOUS follows)
//     and leaves AWSPENDING on it, as AWS's own rotation functions do.
//
// Every step is safe to run again. A Handler is safe for concurrent use.
type Handler struct {
	api      rotasafe.API
	strategy Strategy
	cfg      handlerConfig
	tm       *telemetry.Rotation // records steps and published notices
}

// NewHandler returns a handler that rotates secrets through api with strategy s. Options:
// WithLogger, WithNotices, WithMeterProvider, and the password options (WithPasswordLength,
// WithExcludeCharacters, WithRandomPasswordAPI) that StepContext.NewPassword follows. It panics on a nil s or an
// invalid option.
func NewHandler(api rotasafe.API, s Strategy, opts ...Option) *Handler {
	if s == nil {
		panic("rotate: NewHandler: nil Strategy")
	}
	cfg := newHandlerConfig(opts)
	return &Handler{api: api, strategy: s, cfg: cfg, tm: telemetry.NewRotation(cfg.meters, scope)}
}

// Handle runs the step the event names. It is the function to give lambda.Start:
//
//	lambda.Start(h.Handle)
//
// The error, a *StepError, names the secret, the token and the step, never a value.
func (h *Handler) Handle(ctx context.Context, ev rotasafe.Event) error {
	return h.run(ctx, h.api, ev, false)
}

// StepError reports a failed rotation step.
type StepError struct {
	SecretID string // the secret, as the event named it
	Token    string // the ClientRequestToken (version ID) of the rotation
	Step     string // the step that failed
	Err      error  // the cause
}

// Error names the step, the secret and the token, then the cause.
func (e *StepError) Error() string {
	return fmt.Sprintf("rotate: %s of secret %s, token %s: %v", e.Step, e.SecretID, e.Token, e.Err)
}

// Unwrap returns the cause.
func (e *StepError) Unwrap() error { return e.Err }

// ErrRotationNotEnabled is the cause of a StepError when Secrets Manager calls the handler for
// a secret that does not have rotation enabled.
var ErrRotationNotEnabled = errors.New("rotation is not enabled for the secret")

// ErrNotPending is the cause of a StepError when the token's version does not hold AWSPENDING
// (another rotation took the label, or the token names an old version).
var ErrNotPending = errors.New("the token's version is not AWSPENDING")

// ErrUnknownToken is the cause of a StepError when the token is not a version of the secret.
var ErrUnknownToken = errors.New("the token is not a version of the secret")

// run is Handle with the API to use and whether the caller is Rotate (local): then rotation
// need not be enabled, and createSecret may make the token's version itself, which Secrets
// Manager makes before it calls a Lambda function.
func (h *Handler) run(ctx context.Context, api rotasafe.API, ev rotasafe.Event, local bool) (err error) {
	if err := ev.Validate(); err != nil {
		return err
	}
	start := time.Now()
	defer func() {
		h.tm.Step(ctx, ev.SecretID, ev.Step, err, time.Since(start))
		if err != nil {
			err = &StepError{SecretID: ev.SecretID, Token: ev.ClientRequestToken, Step: ev.Step, Err: err}
			h.log(ctx, slog.LevelError, "rotation step failed", ev, slog.String("error", err.Error()))
		}
	}()
	if api == nil {
		return errors.New("rotate: nil API")
	}

	out, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretID)})
	if err != nil {
		return fmt.Errorf("describe secret: %w", err)
	}
	if !local && !aws.ToBool(out.RotationEnabled) {
		return ErrRotationNotEnabled
	}
	labels := rotasafe.StagesOf(out)
	_, isVersion := labels[ev.ClientRequestToken]
	switch {
	case !isVersion && !(local && ev.Step == rotasafe.StepCreateSecret):
		return ErrUnknownToken
	case labels.Has(ev.ClientRequestToken, rotasafe.StageCurrent):
		h.log(ctx, slog.LevelInfo, "version is already AWSCURRENT; nothing to do", ev)
		return nil
	case isVersion && !labels.Has(ev.ClientRequestToken, rotasafe.StagePending):
		return ErrNotPending
	}

	switch ev.Step {
	case rotasafe.StepCreateSecret:
		err = h.create(ctx, api, ev)
	case rotasafe.StepSetSecret, rotasafe.StepTestSecret:
		h.announceChanging(ctx, ev, aws.ToString(out.ARN))
		err = h.setOrTest(ctx, api, ev)
	case rotasafe.StepFinishSecret:
		err = h.finish(ctx, api, ev)
	}
	if err == nil {
		h.log(ctx, slog.LevelInfo, "rotation step done", ev)
		h.announce(ctx, ev, aws.ToString(out.ARN))
	}
	return err
}

func (h *Handler) stepContext(api rotasafe.API, ev rotasafe.Event) *StepContext {
	return &StepContext{API: api, SecretID: ev.SecretID, Token: ev.ClientRequestToken, Step: ev.Step, pw: h.cfg.pw}
}

func (h *Handler) create(ctx context.Context, api rotasafe.API, ev rotasafe.Event) error {
	sc := h.stepContext(api, ev)
	cur, err := rotasafe.Fetch(ctx, api, ev.SecretID, "", rotasafe.StageCurrent)
	if err != nil {
		return err
	}
	sc.Current = cur
	_, err = rotasafe.Fetch(ctx, api, ev.SecretID, ev.ClientRequestToken, rotasafe.StagePending)
	switch {
	case err == nil:
		h.log(ctx, slog.LevelInfo, "AWSPENDING value already stored", ev)
		return nil
	case !rotasafe.IsNotFound(err):
		return err
	}
	value, err := h.strategy.Create(ctx, sc)
	if err != nil {
		return err
	}
	in := &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(ev.SecretID),
		ClientRequestToken: aws.String(ev.ClientRequestToken),
		SecretString:       aws.String(value),
		VersionStages:      []string{rotasafe.StagePending},
	}
	if ev.RotationToken != "" {
		in.RotationToken = aws.String(ev.RotationToken)
	}
	if _, err := api.PutSecretValue(ctx, in); err != nil {
		return fmt.Errorf("store AWSPENDING value: %w", err)
	}
	return nil
}

func (h *Handler) setOrTest(ctx context.Context, api rotasafe.API, ev rotasafe.Event) error {
	sc := h.stepContext(api, ev)
	var err error
	if sc.Current, err = rotasafe.Fetch(ctx, api, ev.SecretID, "", rotasafe.StageCurrent); err != nil {
		return err
	}
	if sc.Pending, err = rotasafe.Fetch(ctx, api, ev.SecretID, ev.ClientRequestToken, rotasafe.StagePending); err != nil {
		return err
	}
	if ev.Step == rotasafe.StepSetSecret {
		return h.strategy.Set(ctx, sc)
	}
	return h.strategy.Test(ctx, sc)
}

func (h *Handler) finish(ctx context.Context, api rotasafe.API, ev rotasafe.Event) error {
	// AWSPENDING stays on the new AWSCURRENT, as AWS's rotation functions leave it (a valid end
	// state: the next createSecret moves it). An application whose cached password is
	// rejected after this step reads AWSPENDING and finds the new AWSCURRENT in one call.
	return rotasafe.Promote(ctx, api, ev.SecretID, ev.ClientRequestToken)
}

func (h *Handler) log(ctx context.Context, level slog.Level, msg string, ev rotasafe.Event, attrs ...slog.Attr) {
	l := logopt.Or(h.cfg.logger)
	attrs = append([]slog.Attr{slog.String("secret_id", ev.SecretID), slog.String("token", ev.ClientRequestToken), slog.String("step", ev.Step)}, attrs...)
	l.LogAttrs(ctx, level, msg, attrs...)
}
