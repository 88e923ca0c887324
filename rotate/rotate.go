package rotate

import (
	"context"
	"crypto/rand"
	"fmt"

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

// newToken returns a random (version 4) UUID, the form Secrets Manager uses for version IDs.
func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
