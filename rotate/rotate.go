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

// Rotate rotates a secret in process through the handler's API, as Secrets Manager would
// through [Handler.Handle]: createSecret, setSecret, testSecret, finishSecret, stopping at the
// first error. It returns the ID of the version the rotation made AWSCURRENT (also on error,
// to name the rotation). The secret needs no rotation configured: createSecret makes the
// token's version, which Secrets Manager would make before calling the function.
//
// If a rotation is unfinished (AWSPENDING on a version that is not AWSCURRENT), Rotate
// finishes it with its token instead of starting a new one, so calling Rotate again after any
// failure ends in a clean state. To abandon it instead, remove AWSPENDING from its version.
//
// Rotations of one secret must not overlap, so Rotate runs one at a time per secret in the
// process (a second call waits for the first, then rotates from its result). Across processes, start
// rotations with Secrets Manager's RotateSecret, which refuses to overlap them.
func (h *Handler) Rotate(ctx context.Context, secretID string) (versionID string, err error) {
	return drive(ctx, h.api, secretID, h, 1)
}

// Rotate is [Handler.Rotate] through api instead of the handler's own API.
//
// Deprecated: call h.Rotate on a Handler made with that API (NewHandler(api, strategy, ...));
// a Handler is cheap to make, one per API. Rotate stays for callers written before
// Handler.Rotate.
func Rotate(ctx context.Context, api rotasafe.API, secretID string, h *Handler) (versionID string, err error) {
	return drive(ctx, api, secretID, h, 1)
}

// drive is Handler.Rotate through api, running each step runs times in a row (tests check that a repeated step
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
	labels, err := rotasafe.DescribeStages(ctx, api, secretID)
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

// rotating holds the lock of each secret that a Rotate in this process runs on or waits
// for, by ARN. An entry lives while callers hold or wait for it, so the map does not grow
// with the number of secrets ever rotated.
var rotating = struct {
	mu    sync.Mutex
	locks map[string]*secretLock // guarded by mu
}{locks: map[string]*secretLock{}}

// secretLock is a one-slot channel (full while a rotation runs) and the number of callers
// holding or waiting for it.
type secretLock struct {
	slot chan struct{}
	refs int // guarded by rotating.mu
}

// lockSecret waits until no other Rotate of the secret runs in the process, or ctx ends.
func lockSecret(ctx context.Context, arn string) (unlock func(), err error) {
	rotating.mu.Lock()
	l := rotating.locks[arn]
	if l == nil {
		l = &secretLock{slot: make(chan struct{}, 1)}
		rotating.locks[arn] = l
	}
	l.refs++
	rotating.mu.Unlock()
	release := func() {
		rotating.mu.Lock()
		defer rotating.mu.Unlock()
		if l.refs--; l.refs == 0 {
			delete(rotating.locks, arn)
		}
	}
	select {
	case l.slot <- struct{}{}:
		return func() { <-l.slot; release() }, nil
	case <-ctx.Done():
		release()
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
