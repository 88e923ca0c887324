package rotate

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
)

// steps are the rotation steps in the order Secrets Manager runs them.
var steps = []string{rotasafe.StepCreateSecret, rotasafe.StepSetSecret, rotasafe.StepTestSecret, rotasafe.StepFinishSecret}

// Rotate rotates a secret in process: it runs createSecret, setSecret, testSecret and
// finishSecret with h's strategy and options, stopping at the first error, and returns the ID
// of the version the rotation made AWSCURRENT (also on error, to name the rotation). Every
// call goes through api; h's own API is not used. It is for local use, tests and demos; in
// AWS, Secrets Manager calls the Handler.
//
// Rotate works on a secret that has no rotation configured. Where Secrets Manager makes the
// token's version (labelled AWSPENDING, without a value) before it calls createSecret, Rotate
// lets createSecret make it with the value; the other guards of Handle apply as they are.
//
// If a rotation is unfinished (AWSPENDING on a version that is not AWSCURRENT: an earlier
// Rotate or RotateSecret stopped half way), Rotate finishes that rotation, with its token,
// instead of starting a new one. So after any failure, calling Rotate again ends in a clean
// state: the password set on the service half way is the one that becomes AWSCURRENT. To
// abandon an unfinished rotation instead, remove AWSPENDING from its version with
// UpdateSecretVersionStage.
//
// Rotations of one secret must not overlap: a rotation whose setSecret changes the password
// after another rotation's testSecret leaves an AWSCURRENT that no longer logs in. Rotate
// therefore runs one rotation of a secret at a time in the process (a second call waits, then
// finds the first one's result), keyed by the secret's ARN whatever name the callers use.
// Across processes, start rotations with Secrets Manager's RotateSecret, which refuses a
// rotation while another is in progress, rather than with concurrent Rotate calls.
func Rotate(ctx context.Context, api rotasafe.API, secretID string, h *Handler) (versionID string, err error) {
	return drive(ctx, api, secretID, h, 1)
}

// drive is Rotate, running each step runs times in a row (tests check that a repeated step
// changes nothing).
func drive(ctx context.Context, api rotasafe.API, secretID string, h *Handler, runs int) (string, error) {
	if h == nil {
		return "", fmt.Errorf("rotate: rotate %s: nil Handler", secretID)
	}
	if api == nil {
		return "", fmt.Errorf("rotate: rotate %s: nil API", secretID)
	}
	out, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &secretID})
	if err != nil {
		return "", fmt.Errorf("rotate: rotate %s: %w", secretID, err)
	}
	unlock, err := lockSecret(ctx, aws.ToString(out.ARN))
	if err != nil {
		return "", fmt.Errorf("rotate: rotate %s: %w", secretID, err)
	}
	defer unlock()
	// Read the labels again under the lock: a rotation that held it may have just finished.
	labels, err := rotasafe.DescribeLabels(ctx, api, secretID)
	if err != nil {
		return "", fmt.Errorf("rotate: rotate %s: %w", secretID, err)
	}
	token, resume := labels.VersionOf(rotasafe.StagePending)
	if !resume || labels.Has(token, rotasafe.StageCurrent) {
		token = newToken()
	} else {
		h.log(ctx, 0, "resuming an unfinished rotation", rotasafe.Event{SecretID: secretID, ClientRequestToken: token})
	}
	for _, step := range steps {
		ev := rotasafe.Event{SecretID: secretID, ClientRequestToken: token, Step: step}
		for range runs {
			if err := h.run(ctx, api, ev, true); err != nil {
				return token, err
			}
		}
	}
	return token, nil
}

// rotating holds a one-slot channel per secret ARN while Rotate runs on it in this process.
var rotating sync.Map // ARN -> chan struct{}

// lockSecret waits until no other Rotate of the secret runs in the process, or ctx ends.
func lockSecret(ctx context.Context, arn string) (unlock func(), err error) {
	v, _ := rotating.LoadOrStore(arn, make(chan struct{}, 1))
	slot := v.(chan struct{})
	select {
	case slot <- struct{}{}:
		return func() { <-slot }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another rotation of the secret: %w", ctx.Err())
	}
}

// newToken returns a random (version 4) UUID, the form Secrets Manager uses for version IDs.
func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
