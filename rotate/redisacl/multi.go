package redisacl

import (
	"context"
	"errors"
	"fmt"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/redissecret"
	"github.com/rotasafe/rotasafe/rotate"
)

// MultiCredential is a service on which one user holds several credentials at once (Redis
// ACL passwords, API keys, ...). It is what [MultiCredentialStrategy] needs from a service;
// [Strategy] is the strategy over Redis.
//
// Contract:
//   - SetValid makes creds, and no other credential, valid for user, in one change where the
//     service allows (so that no moment has fewer than the credentials of creds valid). It is
//     called again after it succeeded or failed half way and must then end in the same state.
//     creds holds one or two credentials, the AWSCURRENT one first.
//   - Test proves that cred authenticates user, without changing anything. An error for which
//     IsRejected reports true means the service refused the credential (as opposed to being
//     unreachable).
//
// Errors must not hold a credential.
type MultiCredential interface {
	SetValid(ctx context.Context, user string, creds []string) error
	Test(ctx context.Context, user, cred string) error
	IsRejected(err error) bool
}

// Opener returns the MultiCredential for the service that a secret names (secret is its
// AWSCURRENT version), for one step of a rotation. It should do no I/O: the MultiCredential
// connects when its methods are called, and reads what else it needs (an admin secret named
// by secret.MasterARN) through sc.API then.
type Opener func(sc *rotate.StepContext, secret rotasafe.DBSecret) (MultiCredential, error)

// MultiCredentialStrategy rotates the credential of a user that holds several at once, on
// the service that open gives, keeping exactly the AWSCURRENT and AWSPENDING credentials
// valid (scenario 3 of the rotation scenarios):
//
//   - Create copies AWSCURRENT with a new password from StepContext.NewPassword (the
//     handler's password options).
//   - Set checks that the AWSCURRENT credential authenticates the user (so a secret cannot be
//     pointed at a user it does not own), then makes the AWSCURRENT and AWSPENDING credentials,
//     and no other, valid. The credential of the version that is neither (AWSPREVIOUS, the
//     one that kept working since the last rotation) stops working here.
//   - Test authenticates with the AWSPENDING credential.
//
// So from setSecret to finishSecret both AWSCURRENT and AWSPENDING work, and from
// finishSecret to the next setSecret both AWSCURRENT and AWSPREVIOUS do: an application that
// still holds the old credential has a whole rotation period to pick up the new one.
//
// The secret is the database secret JSON (rotasafe.DBSecret): username and password; every
// other field is kept as it is.
func MultiCredentialStrategy(open Opener) rotate.Strategy {
	return &multiStrategy{open: open}
}

type multiStrategy struct {
	open Opener
}

// Create derives the pending secret from AWSCURRENT: the same user, a new password.
func (m *multiStrategy) Create(ctx context.Context, sc *rotate.StepContext) (string, error) {
	cur, err := parse(sc.Current, rotasafe.StageCurrent)
	if err != nil {
		return "", err
	}
	if cur.Password, err = sc.NewPassword(ctx); err != nil {
		return "", fmt.Errorf("generate a password: %w", err)
	}
	b, err := cur.MarshalSecret()
	if err != nil {
		return "", fmt.Errorf("encode the pending secret: %w", err)
	}
	return string(b), nil
}

// Set makes exactly the AWSCURRENT and AWSPENDING credentials valid.
func (m *multiStrategy) Set(ctx context.Context, sc *rotate.StepContext) error {
	cur, pend, svc, err := m.both(sc)
	if err != nil {
		return err
	}
	if err := svc.Test(ctx, cur.Username, cur.Password); err != nil {
		if svc.IsRejected(err) {
			return fmt.Errorf("the AWSCURRENT password of user %s is rejected; refusing to change the user's passwords: %w", cur.Username, err)
		}
		return fmt.Errorf("check the AWSCURRENT password of user %s: %w", cur.Username, err)
	}
	creds := []string{cur.Password}
	if pend.Password != cur.Password {
		creds = append(creds, pend.Password)
	}
	if err := svc.SetValid(ctx, cur.Username, creds); err != nil {
		return fmt.Errorf("set the passwords of user %s: %w", cur.Username, err)
	}
	return nil
}

// Test authenticates with the AWSPENDING credential.
func (m *multiStrategy) Test(ctx context.Context, sc *rotate.StepContext) error {
	_, pend, svc, err := m.both(sc)
	if err != nil {
		return err
	}
	if err := svc.Test(ctx, pend.Username, pend.Password); err != nil {
		return fmt.Errorf("log in as %s with the AWSPENDING password: %w", pend.Username, err)
	}
	return nil
}

// both parses AWSCURRENT and AWSPENDING, checks that they name the same user on the same
// service, and opens the service.
func (m *multiStrategy) both(sc *rotate.StepContext) (cur, pend rotasafe.DBSecret, svc MultiCredential, err error) {
	if m.open == nil {
		return cur, pend, nil, errors.New("redisacl: nil Opener")
	}
	if cur, err = parse(sc.Current, rotasafe.StageCurrent); err != nil {
		return
	}
	if pend, err = parse(sc.Pending, rotasafe.StagePending); err != nil {
		return
	}
	switch {
	case pend.Username != cur.Username:
		err = fmt.Errorf("AWSPENDING names user %s, AWSCURRENT %s; a multi-credential rotation keeps the user", pend.Username, cur.Username)
	case pend.Host != cur.Host || pend.Port != cur.Port:
		err = fmt.Errorf("AWSPENDING names server %s, AWSCURRENT %s; they must be the same", redissecret.AddrOf(pend), redissecret.AddrOf(cur))
	}
	if err != nil {
		return
	}
	svc, err = m.open(sc, cur)
	return
}

// parse reads a version as a database secret; the error names the stage and the version.
func parse(v rotasafe.Version, stage string) (rotasafe.DBSecret, error) {
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		return s, fmt.Errorf("%s (version %s): %w", stage, v.ID, err)
	}
	return s, nil
}
