package rotate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/smtest"
)

// keyService is a toy API-key service: the keys it accepts. It shows that a strategy for
// something other than a database fits the interface, and lets the handler's own logic be
// tested without PostgreSQL.
type keyService struct {
	mu    sync.Mutex
	keys  map[string]bool
	sets  int
	tests int
}

// keyStrategy rotates {"key": "..."} secrets; the service keeps accepting the current key.
type keyStrategy struct{ svc *keyService }

func keyOf(v rotasafe.Version) (string, error) {
	var s struct{ Key string }
	if err := json.Unmarshal([]byte(v.SecretString), &s); err != nil || s.Key == "" {
		return "", errors.New("not an API-key secret")
	}
	return s.Key, nil
}

func (k keyStrategy) Create(ctx context.Context, sc *StepContext) (string, error) {
	if _, err := keyOf(sc.Current); err != nil {
		return "", err
	}
	pw, err := sc.NewPassword(ctx)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(map[string]string{"key": pw})
	return string(b), err
}

func (k keyStrategy) Set(ctx context.Context, sc *StepContext) error {
	return k.withPendingKey(sc, func(key string) error {
		k.svc.keys[key] = true
		k.svc.sets++
		return nil
	})
}

func (k keyStrategy) Test(ctx context.Context, sc *StepContext) error {
	return k.withPendingKey(sc, func(key string) error {
		k.svc.tests++
		if !k.svc.keys[key] {
			return errors.New("the service rejects the pending key")
		}
		return nil
	})
}

// withPendingKey runs f with the pending version's key while it holds the service's lock; a
// pending version that is not an API-key secret is an error and f does not run.
func (k keyStrategy) withPendingKey(sc *StepContext, f func(key string) error) error {
	key, err := keyOf(sc.Pending)
	if err != nil {
		return err
	}
	k.svc.mu.Lock()
	defer k.svc.mu.Unlock()
	return f(key)
}

// newKeyEnv is the setup of the tests of the handler's own logic: a Secrets Manager of t
// (smtest) and its client, a key service, and an API-key secret named t.Name() (ARN id) whose
// first key the service accepts.
func newKeyEnv(t *testing.T) (s *smtest.Server, c *secretsmanager.Client, svc *keyService, id string) {
	t.Helper()
	s = smtest.New(t)
	c = s.Client()
	out, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(t.Name()), SecretString: aws.String(`{"key":"first-key"}`)})
	if err != nil {
		t.Fatal(err)
	}
	svc = &keyService{keys: map[string]bool{"first-key": true}}
	return s, c, svc, aws.ToString(out.ARN)
}

const lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:rotate"

// recordingAPI passes every call on and records the RotationToken of each PutSecretValue.
type recordingAPI struct {
	rotasafe.API
	mu     sync.Mutex
	tokens []string
}

func (r *recordingAPI) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	r.mu.Lock()
	r.tokens = append(r.tokens, aws.ToString(in.RotationToken))
	r.mu.Unlock()
	return r.API.PutSecretValue(ctx, in, optFns...)
}

// TestRotateSecretCallsHandler checks that RotateSecret, through a registered rotation
// function, runs the handler's four steps: each rotation leaves AWSCURRENT and AWSPENDING on
// the new version only, passes the event's RotationToken back on PutSecretValue, and ends
// with a key the service accepts.
func TestRotateSecretCallsHandler(t *testing.T) {
	t.Parallel()
	s, c, svc, id := newKeyEnv(t)
	rec := &recordingAPI{API: c}
	h := NewHandler(rec, keyStrategy{svc})
	var events []rotasafe.Event
	s.RegisterRotationFunc(lambdaARN, func(ctx context.Context, ev rotasafe.Event) error {
		events = append(events, ev)
		return h.Handle(ctx, ev)
	})
	for i := range 3 {
		events, rec.tokens = nil, nil
		out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String(id), RotationLambdaARN: aws.String(lambdaARN)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.LastRotationError(id); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		token := aws.ToString(out.VersionId)
		l := s.Stages(id)
		// AWSPENDING stays on the new AWSCURRENT, as AWS's rotation functions leave it.
		if !l.Has(token, rotasafe.StageCurrent) || !l.Has(token, rotasafe.StagePending) || pendingHolders(l) != 1 {
			t.Fatalf("rotation %d: labels %v, want AWSCURRENT and AWSPENDING on %s only", i+1, l, token)
		}
		if len(events) != 4 || events[0].RotationToken == "" {
			t.Fatalf("rotation %d: got %d events, want 4 with a RotationToken", i+1, len(events))
		}
		if len(rec.tokens) != 1 || rec.tokens[0] != events[0].RotationToken {
			t.Fatalf("rotation %d: PutSecretValue calls did not pass the event's RotationToken back", i+1)
		}
		v, err := rotasafe.Fetch(t.Context(), c, id, "", rotasafe.StageCurrent)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := keyOf(v)
		if !svc.keys[key] {
			t.Fatalf("rotation %d: the service does not accept the AWSCURRENT key", i+1)
		}
	}
}

// TestGuards checks the handler's refusals: a step before rotation is enabled, an unknown
// token, a token that is AWSPREVIOUS, a step that finds its token already AWSCURRENT (which
// does nothing), an invalid event and a missing secret; none changes the secret, and each
// step error names the step, the token and the secret.
func TestGuards(t *testing.T) {
	t.Parallel()
	s, c, svc, id := newKeyEnv(t)
	h := NewHandler(c, keyStrategy{svc})
	ctx := t.Context()
	ev := func(token, step string) rotasafe.Event {
		return rotasafe.Event{SecretID: id, ClientRequestToken: token, Step: step}
	}
	first, _ := s.Stages(id).VersionOf(rotasafe.StageCurrent)

	if err := h.Handle(ctx, ev(newToken(), rotasafe.StepCreateSecret)); !errors.Is(err, ErrRotationNotEnabled) {
		t.Fatalf("rotation not enabled: got %v, want ErrRotationNotEnabled", err)
	}
	// Enable rotation with one successful rotation.
	s.RegisterRotationFunc(lambdaARN, h.Handle)
	out, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(id), RotationLambdaARN: aws.String(lambdaARN)})
	if err != nil || s.LastRotationError(id) != nil {
		t.Fatalf("RotateSecret: %v %v", err, s.LastRotationError(id))
	}
	current := aws.ToString(out.VersionId)

	tests := []struct {
		name string
		ev   rotasafe.Event
		want error
	}{
		{"unknown token", ev(newToken(), rotasafe.StepSetSecret), ErrUnknownToken},
		{"token is AWSPREVIOUS", ev(first, rotasafe.StepSetSecret), ErrNotPending},
		{"token is AWSCURRENT: createSecret", ev(current, rotasafe.StepCreateSecret), nil},
		{"token is AWSCURRENT: finishSecret", ev(current, rotasafe.StepFinishSecret), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Stages(id)
			puts := s.Calls("PutSecretValue") + s.Calls("UpdateSecretVersionStage")
			err := h.Handle(ctx, tt.ev)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			var se *StepError
			if err != nil && (!errors.As(err, &se) || se.Step != tt.ev.Step || se.Token != tt.ev.ClientRequestToken || !strings.Contains(err.Error(), id)) {
				t.Fatalf("error %q does not name the step, token and secret", err)
			}
			if after := s.Stages(id); labelString(before) != labelString(after) || s.Calls("PutSecretValue")+s.Calls("UpdateSecretVersionStage") != puts {
				t.Fatalf("a refused or finished step changed the secret: %v -> %v", before, after)
			}
		})
	}

	t.Run("invalid event", func(t *testing.T) {
		var ee *rotasafe.EventError
		if err := h.Handle(ctx, rotasafe.Event{SecretID: id, Step: rotasafe.StepSetSecret}); !errors.As(err, &ee) {
			t.Fatalf("got %v, want an EventError", err)
		}
	})
	t.Run("missing secret", func(t *testing.T) {
		err := h.Handle(ctx, rotasafe.Event{SecretID: "nope", ClientRequestToken: newToken(), Step: rotasafe.StepCreateSecret})
		if !rotasafe.IsNotFound(err) {
			t.Fatalf("got %v, want ResourceNotFoundException", err)
		}
	})
}

// TestRetriedRotation follows what Secrets Manager does when a step fails: it calls the steps
// again with the same token, and the rotation then completes.
func TestRetriedRotation(t *testing.T) {
	t.Parallel()
	s, c, svc, id := newKeyEnv(t)
	h := NewHandler(c, keyStrategy{svc})
	var fail string
	s.RegisterRotationFunc(lambdaARN, func(ctx context.Context, ev rotasafe.Event) error {
		if ev.Step == fail {
			return errors.New("injected")
		}
		return h.Handle(ctx, ev)
	})
	for _, step := range steps {
		fail = step
		out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String(id), RotationLambdaARN: aws.String(lambdaARN)})
		if err != nil {
			t.Fatal(err)
		}
		if s.LastRotationError(id) == nil {
			t.Fatalf("failing %s: rotation succeeded", step)
		}
		token := aws.ToString(out.VersionId)
		sets := svc.sets
		for _, st := range steps { // the retry, with the same token
			if err := h.Handle(t.Context(), rotasafe.Event{SecretID: id, ClientRequestToken: token, Step: st}); err != nil {
				t.Fatalf("failing %s, retry %s: %v", step, st, err)
			}
		}
		if svc.sets != sets+1 {
			t.Fatalf("failing %s: the retry set %d keys, want 1", step, svc.sets-sets)
		}
		if l := s.Stages(id); !l.Has(token, rotasafe.StageCurrent) || !l.Has(token, rotasafe.StagePending) || pendingHolders(l) != 1 {
			t.Fatalf("failing %s: labels %v after the retry, want AWSCURRENT and AWSPENDING on %s only", step, l, token)
		}
	}
}

// TestRotateWithoutRotationConfigured checks that Rotate runs the steps itself on a secret
// with no rotation function, and finishes an unfinished rotation with that rotation's token.
func TestRotateWithoutRotationConfigured(t *testing.T) {
	t.Parallel()
	s, c, svc, id := newKeyEnv(t)
	h := NewHandler(nil, keyStrategy{svc})
	token, err := Rotate(t.Context(), c, id, h)
	if err != nil {
		t.Fatal(err)
	}
	if l := s.Stages(id); !l.Has(token, rotasafe.StageCurrent) {
		t.Fatalf("labels %v, want AWSCURRENT on %s", l, token)
	}
	// An unfinished rotation (left by a failed RotateSecret) is finished with its own token.
	s.RegisterRotationFunc(lambdaARN, func(context.Context, rotasafe.Event) error { return errors.New("injected") })
	out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String(id), RotationLambdaARN: aws.String(lambdaARN)})
	if err != nil {
		t.Fatal(err)
	}
	resumed, err := Rotate(t.Context(), c, id, h)
	if err != nil {
		t.Fatal(err)
	}
	if resumed != aws.ToString(out.VersionId) {
		t.Fatalf("Rotate made version %s, want the unfinished rotation's %s", resumed, aws.ToString(out.VersionId))
	}
}

// TestInvalidOptions checks that a bad option value makes the constructor panic with a message
// naming the option and the value, and that an option the strategy has no use for does too.
func TestInvalidOptions(t *testing.T) {
	t.Parallel()
	strategy := keyStrategy{&keyService{}}
	tests := []struct {
		name string
		make func()
		want string
	}{
		{"short password", func() { NewHandler(nil, strategy, WithPasswordLength(3)) }, "WithPasswordLength(3)"},
		{"long password", func() { NewHandler(nil, strategy, WithPasswordLength(5000)) }, "WithPasswordLength(5000)"},
		{"nothing left", func() { NewHandler(nil, strategy, WithExcludeCharacters(string(alphabet("")))) }, "WithExcludeCharacters("},
		{"nil strategy", func() { NewHandler(nil, nil) }, "nil Strategy"},
		{"empty clone suffix", func() { PostgresAlternatingUsers(WithCloneSuffix("")) }, `WithCloneSuffix("")`},
		{"clone suffix without a clone", func() { PostgresSingleUser(WithCloneSuffix("_b")) }, `WithCloneSuffix("_b"): PostgresSingleUser`},
		{"tls", func() { PostgresSingleUser(WithTLSMode("sometimes")) }, `WithTLSMode("sometimes")`},
		{"timeout", func() { PostgresAlternatingUsers(WithConnectTimeout(-time.Second)) }, "WithConnectTimeout(-1s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), tt.want) {
					t.Fatalf("got panic %v, want one naming %s", r, tt.want)
				}
			}()
			tt.make()
		})
	}
	// Zero keeps the default where the option says so.
	NewHandler(nil, strategy, WithPasswordLength(0), WithLogger(nil))
	PostgresSingleUser(WithConnectTimeout(0), WithTLSMode(TLSPreferVerified))
}

// TestLogsNoValues checks that the handler logs its steps but neither the old nor the new key.
func TestLogsNoValues(t *testing.T) {
	t.Parallel()
	_, c, svc, id := newKeyEnv(t)
	var buf bytes.Buffer
	h := NewHandler(nil, keyStrategy{svc}, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	if _, err := Rotate(t.Context(), c, id, h); err != nil {
		t.Fatal(err)
	}
	v, _ := rotasafe.Fetch(t.Context(), c, id, "", rotasafe.StageCurrent)
	key, _ := keyOf(v)
	if !strings.Contains(buf.String(), "step=finishSecret") {
		t.Fatalf("log has no finishSecret line:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), key) || strings.Contains(buf.String(), "first-key") {
		t.Fatal("the log holds a key")
	}
}
