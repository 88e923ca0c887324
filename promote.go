package rotasafe

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Promote moves AWSCURRENT to versionID, the label move that ends a rotation (finishSecret):
// it names the version that holds AWSCURRENT now in RemoveFromVersionId, as Secrets Manager
// requires, and Secrets Manager then gives that version AWSPREVIOUS. Promote is a no-op when
// versionID already holds AWSCURRENT, so a retried finishSecret succeeds.
//
// If AWSCURRENT moves between Promote's DescribeSecret and its update (another finishSecret
// racing this one), the update fails; Promote then reads the labels again and succeeds only
// if versionID is current by then.
func Promote(ctx context.Context, api API, secretID, versionID string) error {
	if versionID == "" {
		return fmt.Errorf("rotasafe: promote %s: empty version ID", secretID)
	}
	labels, err := describeStages(ctx, api, secretID)
	if err != nil {
		return fmt.Errorf("rotasafe: promote %s to version %s: %w", secretID, versionID, err)
	}
	current, hasCurrent := labels.VersionOf(StageCurrent)
	if current == versionID {
		return nil
	}
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:        aws.String(secretID),
		VersionStage:    aws.String(StageCurrent),
		MoveToVersionId: aws.String(versionID),
	}
	if hasCurrent {
		in.RemoveFromVersionId = aws.String(current)
	}
	if _, err := api.UpdateSecretVersionStage(ctx, in); err != nil {
		if again, derr := describeStages(ctx, api, secretID); derr == nil && again.Has(versionID, StageCurrent) {
			return nil
		}
		return fmt.Errorf("rotasafe: promote %s: move AWSCURRENT from version %s to %s: %w", secretID, current, versionID, err)
	}
	return nil
}

func describeStages(ctx context.Context, api API, secretID string) (Stages, error) {
	out, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return nil, err
	}
	return StagesOf(out), nil
}

// DescribeStages returns the staging labels of a secret's versions, read with DescribeSecret.
func DescribeStages(ctx context.Context, api API, secretID string) (Stages, error) {
	l, err := describeStages(ctx, api, secretID)
	if err != nil {
		return nil, fmt.Errorf("rotasafe: describe %s: %w", secretID, err)
	}
	return l, nil
}
