// Package template is the AWS rotation function template (SecretsManagerRotationTemplate's
// lambda_function.py) in Go, for smtest's own tests: the guard every step runs, an idempotent
// createSecret, setSecret and testSecret that do nothing, and finishSecret's label moves. It
// exercises the server the way real rotation functions do; it rotates no real credential.
package template

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
)

// Step runs one rotation step of ev against api.
func Step(ctx context.Context, api rotasafe.API, ev rotasafe.Event) error {
	d, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &ev.SecretID})
	if err != nil {
		return err
	}
	if !aws.ToBool(d.RotationEnabled) {
		return errors.New("template: rotation is not enabled")
	}
	stages, ok := d.VersionIdsToStages[ev.ClientRequestToken]
	if !ok {
		return errors.New("template: the token is not a version of the secret")
	}
	if slices.Contains(stages, rotasafe.StageCurrent) {
		return nil
	}
	if !slices.Contains(stages, rotasafe.StagePending) {
		return errors.New("template: the version is not AWSPENDING")
	}
	switch ev.Step {
	case rotasafe.StepCreateSecret:
		if _, err := rotasafe.Fetch(ctx, api, ev.SecretID, "", rotasafe.StageCurrent); err != nil {
			return err
		}
		_, err := rotasafe.Fetch(ctx, api, ev.SecretID, ev.ClientRequestToken, rotasafe.StagePending)
		if err == nil || !rotasafe.IsNotFound(err) {
			return err
		}
		pw, err := api.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{ExcludeCharacters: aws.String(`/@"'\`)})
		if err != nil {
			return err
		}
		in := &secretsmanager.PutSecretValueInput{
			SecretId: &ev.SecretID, ClientRequestToken: &ev.ClientRequestToken, SecretString: pw.RandomPassword,
			VersionStages: []string{rotasafe.StagePending},
		}
		if ev.RotationToken != "" {
			in.RotationToken = &ev.RotationToken
		}
		_, err = api.PutSecretValue(ctx, in)
		return err
	case rotasafe.StepSetSecret, rotasafe.StepTestSecret:
		return nil
	case rotasafe.StepFinishSecret:
		if err := rotasafe.Promote(ctx, api, ev.SecretID, ev.ClientRequestToken); err != nil {
			return err
		}
		_, err := api.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: &ev.SecretID, VersionStage: aws.String(rotasafe.StagePending), RemoveFromVersionId: &ev.ClientRequestToken,
		})
		return err
	}
	return fmt.Errorf("template: unknown step %q", ev.Step)
}
