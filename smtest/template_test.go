package smtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/smtest"
)

type contextT = context.Context

// templateStep is the AWS rotation template (SecretsManagerRotationTemplate) in Go: the guard
// on every step, an idempotent createSecret, no-op set and test, finishSecret's label move.
func templateStep(ctx context.Context, c *secretsmanager.Client, ev rotasafe.Event) error {
	d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &ev.SecretID})
	if err != nil {
		return err
	}
	if !aws.ToBool(d.RotationEnabled) {
		return errors.New("rotation not enabled")
	}
	stages, ok := d.VersionIdsToStages[ev.ClientRequestToken]
	if !ok {
		return errors.New("token is not a version of the secret")
	}
	if slices.Contains(stages, rotasafe.StageCurrent) {
		return nil
	}
	if !slices.Contains(stages, rotasafe.StagePending) {
		return errors.New("version is not AWSPENDING")
	}
	switch ev.Step {
	case rotasafe.StepCreateSecret:
		if _, err := get(ctx, c, ev.SecretID, "", rotasafe.StageCurrent); err != nil {
			return err
		}
		_, err := get(ctx, c, ev.SecretID, ev.ClientRequestToken, rotasafe.StagePending)
		if err == nil {
			return nil
		}
		if !rotasafe.IsNotFound(err) {
			return err
		}
		pw, err := c.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{ExcludeCharacters: aws.String(`/@"'\`)})
		if err != nil {
			return err
		}
		_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: &ev.SecretID, ClientRequestToken: &ev.ClientRequestToken, SecretString: pw.RandomPassword,
			VersionStages: []string{rotasafe.StagePending}, RotationToken: &ev.RotationToken,
		})
		return err
	case rotasafe.StepSetSecret, rotasafe.StepTestSecret:
		return nil
	case rotasafe.StepFinishSecret:
		if err := rotasafe.Promote(ctx, c, ev.SecretID, ev.ClientRequestToken); err != nil {
			return err
		}
		_, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: &ev.SecretID, VersionStage: aws.String(rotasafe.StagePending), RemoveFromVersionId: &ev.ClientRequestToken,
		})
		return err
	}
	return fmt.Errorf("unknown step %q", ev.Step)
}

func templateStep2(c *secretsmanager.Client) func(context.Context, rotasafe.Event) error {
	return func(ctx context.Context, ev rotasafe.Event) error { return templateStep(ctx, c, ev) }
}

// recordingTemplate runs the template and appends each event to events; failAt names a step
// to fail instead ("" = none).
func recordingTemplate(c *secretsmanager.Client, events *[]rotasafe.Event, failAt string) func(context.Context, rotasafe.Event) error {
	var mu sync.Mutex
	return func(ctx context.Context, ev rotasafe.Event) error {
		mu.Lock()
		*events = append(*events, ev)
		mu.Unlock()
		if ev.Step == failAt {
			return fmt.Errorf("injected failure at %s", ev.Step)
		}
		return templateStep(ctx, c, ev)
	}
}

func newRawRequest(t *testing.T, s *smtest.Server, target, body string) (*http.Request, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	return req, nil
}

var errTest = errors.New("injected step failure")
