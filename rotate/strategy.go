package rotate

import (
	"context"

	"github.com/rotasafe/rotasafe"
)

// Strategy is what differs between rotation scenarios: how to derive the new value, how to
// make the service accept it, and how to prove that it works. The Handler calls it after its
// guards pass, with the versions the step needs already fetched.
//
// Contract:
//   - Create returns the SecretString to store as AWSPENDING. It must not change the service.
//     The handler calls it only when no AWSPENDING value exists for the token yet.
//   - Set makes the service accept the pending value, keeping the value that is current now
//     working until finishSecret whenever the scenario allows. It may be called again after
//     it succeeded or failed half way (Secrets Manager retries steps) and must then succeed
//     without changing anything that already took effect.
//   - Test proves that the pending value works, without changing anything.
//
// Errors must not hold a secret value; the handler adds the secret, token and step.
type Strategy interface {
	Create(ctx context.Context, sc *StepContext) (pending string, err error)
	Set(ctx context.Context, sc *StepContext) error
	Test(ctx context.Context, sc *StepContext) error
}

// StepContext is what one step of a rotation knows: the secret, the token, the versions the
// handler fetched, and the API to fetch more (a masterarn secret, AWSPREVIOUS).
type StepContext struct {
	API      rotasafe.API     // the Secrets Manager API the handler uses
	SecretID string           // the secret being rotated, as the event names it (an ARN from Secrets Manager)
	Token    string           // the ClientRequestToken: the ID of the version the rotation creates
	Step     string           // rotasafe.StepCreateSecret, StepSetSecret or StepTestSecret
	Current  rotasafe.Version // the AWSCURRENT version
	Pending  rotasafe.Version // the AWSPENDING version of Token; zero in Create

	pw       passwordPolicy // the handler's password policy
	previous *rotasafe.Version
	hasPrev  bool
	prevErr  error
	prevRead bool
}

// Previous returns the AWSPREVIOUS version, read on first use and kept for the step. ok is
// false when the secret has no AWSPREVIOUS version (it was never rotated).
func (sc *StepContext) Previous(ctx context.Context) (v rotasafe.Version, ok bool, err error) {
	if !sc.prevRead {
		sc.prevRead = true
		p, err := rotasafe.Fetch(ctx, sc.API, sc.SecretID, "", rotasafe.StagePrevious)
		switch {
		case err == nil:
			sc.previous, sc.hasPrev = &p, true
		case rotasafe.IsNotFound(err):
		default:
			sc.prevErr = err
		}
	}
	if sc.prevErr != nil || !sc.hasPrev {
		return rotasafe.Version{}, false, sc.prevErr
	}
	return *sc.previous, true, nil
}

// NewPassword generates a password by the handler's password options (WithPasswordLength,
// WithExcludeCharacters, WithRandomPasswordAPI).
func (sc *StepContext) NewPassword(ctx context.Context) (string, error) {
	return sc.pw.generate(ctx, sc.API)
}
