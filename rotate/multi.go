package rotate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"

	"github.com/rotasafe/rotasafe"
)

// MultiCredential is a service on which one user holds several credentials at once (Redis
// ACL passwords, API keys, a broker user's password hashes, ...): what
// [MultiCredentialStrategy] needs from a service to rotate such a user (scenario 3,
// [ScenarioMultiCredential]). Package rotate/redisacl implements it for Redis.
//
// Contract:
//   - List returns the keys of the credentials user holds now, as the service shows them (a
//     hash of each password, a key ID). An error for a user that does not exist.
//   - Key returns the key under which List shows cred. It does no I/O.
//   - Add makes cred valid for user besides those it holds. Adding a credential the user
//     holds already changes nothing.
//   - Remove makes the credential whose key is key invalid for user, and no other. Removing
//     one the user does not hold changes nothing.
//   - Test proves that cred authenticates user, without changing anything. An error for
//     which IsRejected reports true means the service refused the credential (as opposed to
//     being unreachable).
//
// A MultiCredential that is also an io.Closer is closed at the end of the step that opened
// it. Errors must not hold a credential.
type MultiCredential interface {
	List(ctx context.Context, user string) (keys []string, err error)
	Key(cred string) string
	Add(ctx context.Context, user, cred string) error
	Remove(ctx context.Context, user, key string) error
	Test(ctx context.Context, user, cred string) error
	IsRejected(err error) bool
}

// MultiCredentialOpener returns the MultiCredential for the service that a secret names
// (secret is its AWSCURRENT version), for one step of a rotation. It should do no I/O: the
// MultiCredential connects when its methods are called, and reads what else it needs (an
// admin secret named by secret.MasterARN) through sc.API then.
type MultiCredentialOpener func(sc *StepContext, secret rotasafe.DBSecret) (MultiCredential, error)

// MultiCredentialStrategy rotates the credential of a user that holds several at once, on
// the service that open gives, keeping exactly the AWSCURRENT and AWSPENDING credentials
// valid (scenario 3, [ScenarioMultiCredential]):
//
//   - Create copies AWSCURRENT with a new password from StepContext.NewPassword (the
//     handler's password options).
//   - Set checks that the AWSCURRENT credential authenticates the user (so a secret cannot be
//     pointed at a user it does not own), adds the AWSPENDING credential unless the user
//     holds it, then removes every credential that is neither AWSCURRENT's nor AWSPENDING's:
//     the one of AWSPREVIOUS, which kept working since the last rotation, stops here. Adding
//     before removing keeps AWSCURRENT working at every moment, and a rerun finds what is
//     done and does the rest.
//   - Test authenticates with the AWSPENDING credential.
//
// So from setSecret to finishSecret both AWSCURRENT and AWSPENDING work, and from
// finishSecret to the next setSecret both AWSCURRENT and AWSPREVIOUS do: an application that
// still holds the old credential has a whole rotation period to pick up the new one.
//
// The secret is the database secret JSON (rotasafe.DBSecret): username and password; every
// other field is kept as it is. AWSCURRENT and AWSPENDING must name the same user, host and
// port.
func MultiCredentialStrategy(open MultiCredentialOpener) Strategy {
	if open == nil {
		panic("rotate: MultiCredentialStrategy: nil MultiCredentialOpener")
	}
	return &multiStrategy{open: open}
}

type multiStrategy struct {
	open MultiCredentialOpener
}

// Create derives the pending secret from AWSCURRENT: the same user, a new password.
func (m *multiStrategy) Create(ctx context.Context, sc *StepContext) (string, error) {
	cur, err := parseDB(sc.Current, rotasafe.StageCurrent)
	if err != nil {
		return "", err
	}
	return withNewPassword(ctx, sc, cur)
}

// Set makes exactly the AWSCURRENT and AWSPENDING credentials valid, adding before removing.
func (m *multiStrategy) Set(ctx context.Context, sc *StepContext) (err error) {
	cur, pend, svc, err := m.both(sc)
	if err != nil {
		return err
	}
	defer closeService(svc, &err)
	user := cur.Username
	if err := svc.Test(ctx, user, cur.Password); err != nil {
		if svc.IsRejected(err) {
			return fmt.Errorf("the AWSCURRENT credential of user %s is rejected; refusing to change the user's credentials: %w", user, err)
		}
		return fmt.Errorf("check the AWSCURRENT credential of user %s: %w", user, err)
	}
	keys, err := svc.List(ctx, user)
	if err != nil {
		return fmt.Errorf("list the credentials of user %s: %w", user, err)
	}
	keep := []string{svc.Key(cur.Password), svc.Key(pend.Password)}
	if !slices.Contains(keys, keep[1]) {
		if err := svc.Add(ctx, user, pend.Password); err != nil {
			return fmt.Errorf("add the AWSPENDING credential of user %s: %w", user, err)
		}
	}
	for _, k := range keys {
		if !slices.Contains(keep, k) {
			if err := svc.Remove(ctx, user, k); err != nil {
				return fmt.Errorf("remove an old credential of user %s: %w", user, err)
			}
		}
	}
	return nil
}

// Test authenticates with the AWSPENDING credential.
func (m *multiStrategy) Test(ctx context.Context, sc *StepContext) (err error) {
	_, pend, svc, err := m.both(sc)
	if err != nil {
		return err
	}
	defer closeService(svc, &err)
	if err := svc.Test(ctx, pend.Username, pend.Password); err != nil {
		return fmt.Errorf("log in as %s with the AWSPENDING credential: %w", pend.Username, err)
	}
	return nil
}

// both parses AWSCURRENT and AWSPENDING, checks that they name the same user on the same
// service, and opens the service.
func (m *multiStrategy) both(sc *StepContext) (cur, pend rotasafe.DBSecret, svc MultiCredential, err error) {
	if cur, err = parseDB(sc.Current, rotasafe.StageCurrent); err != nil {
		return
	}
	if pend, err = parseDB(sc.Pending, rotasafe.StagePending); err != nil {
		return
	}
	switch {
	case pend.Username != cur.Username:
		err = fmt.Errorf("AWSPENDING names user %s, AWSCURRENT %s; a multi-credential rotation keeps the user", pend.Username, cur.Username)
	case pend.Host != cur.Host || pend.Port != cur.Port:
		err = fmt.Errorf("AWSPENDING names server %s, AWSCURRENT %s; they must be the same", hostPort(pend), hostPort(cur))
	}
	if err != nil {
		return
	}
	if svc, err = m.open(sc, cur); err == nil && svc == nil {
		err = errors.New("the MultiCredentialOpener returned no service")
	}
	return
}

// closeService closes svc when it is an io.Closer, keeping the step's error first.
func closeService(svc MultiCredential, err *error) {
	if c, ok := svc.(io.Closer); ok {
		if cerr := c.Close(); *err == nil && cerr != nil {
			*err = cerr
		}
	}
}

// hostPort names the server of a secret.
func hostPort(s rotasafe.DBSecret) string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// parseDB reads a version as a database secret; the error names the stage and the version.
func parseDB(v rotasafe.Version, stage string) (rotasafe.DBSecret, error) {
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		return s, fmt.Errorf("%s (version %s): %w", stage, v.ID, err)
	}
	return s, nil
}
