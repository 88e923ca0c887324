package rotasafe

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

// API is the subset of the Secrets Manager client that this module calls. Its methods copy
// the signatures of *secretsmanager.Client, so the real client (or the one smtest hands out)
// satisfies it as is; tests and users may pass their own implementation.
type API interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	DescribeSecret(ctx context.Context, params *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	PutSecretValue(ctx context.Context, params *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, params *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	GetRandomPassword(ctx context.Context, params *secretsmanager.GetRandomPasswordInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetRandomPasswordOutput, error)
}

var _ API = (*secretsmanager.Client)(nil)

// IsNotFound reports whether err is Secrets Manager's ResourceNotFoundException: the secret,
// the version or the staging label does not exist (or holds no value yet).
func IsNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

// ErrorCode returns the Secrets Manager error code carried by err ("ThrottlingException",
// "ResourceNotFoundException", ...), or "" when err did not come from the service.
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Fetch reads one version of a secret with GetSecretValue: by versionID, by stage, or both
// (then the version must hold the stage). With neither, Secrets Manager returns AWSCURRENT.
// The error names the secret and the selector, never a value.
func Fetch(ctx context.Context, api API, secretID, versionID, stage string) (Version, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: &secretID}
	if versionID != "" {
		in.VersionId = &versionID
	}
	if stage != "" {
		in.VersionStage = &stage
	}
	out, err := api.GetSecretValue(ctx, in)
	if err != nil {
		sel := stage
		switch {
		case versionID != "" && stage != "":
			sel = "version " + versionID + " (" + stage + ")"
		case versionID != "":
			sel = "version " + versionID
		case stage == "":
			sel = StageCurrent
		}
		return Version{}, fmt.Errorf("rotasafe: get %s %s: %w", secretID, sel, err)
	}
	return NewVersion(out), nil
}
