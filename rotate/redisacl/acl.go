package redisacl

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/redissecret"
	"github.com/rotasafe/rotasafe/rotate"
)

// Strategy rotates the password of a Redis ACL user (Redis 6 and later) with
// [MultiCredentialStrategy]: the user keeps two passwords, AWSCURRENT's and AWSPENDING's,
// so the application never has a moment without a working password.
//
//   - Create copies AWSCURRENT with a new password (the handler's password options).
//   - Set logs in as the user with the AWSCURRENT password, then, as the user of the secret
//     that the masterarn field names (read through the same API; it must be allowed to run
//     ACL SETUSER), runs one command, ACL SETUSER <user> resetpass #<sha256(current)>
//     #<sha256(pending)>, which is atomic and idempotent, sends only hashes, removes every
//     other password (AWSPREVIOUS's) and leaves the user's other rules (on/off, keys,
//     channels, commands) as they are.
//   - Test logs in with the AWSPENDING password and runs PING.
//
// The secret is the database secret JSON: host, port (6379 when absent), username,
// password, masterarn, and "tls": true for a server that wants TLS. The masterarn secret
// names the same host and port.
//
// Passwords come from StepContext.NewPassword, so the handler's password options apply.
// Redis takes any bytes in a password, but one that goes into a redis:// URL must leave out
// the characters URLs reserve: give the handler, for instance,
// rotate.WithExcludeCharacters(rotate.DefaultExcludeCharacters + "#?%[]&+").
//
// ACL changes are not replicated: on a server with replicas, or in a cluster, each node
// holds its own users. Options: WithTLSConfig, WithTimeout, WithACLSave.
func Strategy(opts ...Option) rotate.Strategy {
	cfg := newConfig(opts)
	return MultiCredentialStrategy(func(sc *rotate.StepContext, s rotasafe.DBSecret) (MultiCredential, error) {
		srv, err := redissecret.ServerOf(s, sc.Current.SecretString)
		if err != nil {
			return nil, fmt.Errorf("AWSCURRENT (version %s): %w", sc.Current.ID, err)
		}
		return &aclService{cfg: &cfg, api: sc.API, srv: srv, masterARN: s.MasterARN}, nil
	})
}

// aclService is the MultiCredential of one Redis server.
type aclService struct {
	cfg       *config
	api       rotasafe.API
	srv       redissecret.Server
	masterARN string
}

var _ MultiCredential = (*aclService)(nil)

// PasswordHash returns the form in which ACL SETUSER takes a password without seeing it,
// and in which ACL GETUSER and ACL LIST show it: '#' and the lowercase hex SHA-256 of the
// password.
func PasswordHash(password string) string { return redissecret.PasswordHash(password) }

// DefaultPort is the port a secret without one names.
const DefaultPort = redissecret.DefaultPort

// SetValid makes exactly creds the passwords of user, as the masterarn user.
func (a *aclService) SetValid(ctx context.Context, user string, creds []string) error {
	if len(creds) == 0 {
		return errors.New("no password to keep; refusing to leave the user without one")
	}
	admin, err := a.admin(ctx)
	if err != nil {
		return err
	}
	c := a.client(admin.Username, admin.Password)
	defer c.Close()
	// ACL SETUSER creates a user that does not exist; this one must exist already.
	if err := c.Do(ctx, "ACL", "GETUSER", user).Err(); err != nil {
		if errors.Is(err, redis.Nil) {
			return fmt.Errorf("no such Redis user %s", user)
		}
		return fmt.Errorf("ACL GETUSER %s as %s: %w", user, admin.Username, err)
	}
	args := make([]any, 0, 4+len(creds))
	args = append(args, "ACL", "SETUSER", user, "resetpass")
	for _, cr := range creds {
		args = append(args, PasswordHash(cr))
	}
	if err := c.Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("ACL SETUSER %s as %s: %w", user, admin.Username, redact(err))
	}
	if a.cfg.aclSave {
		if err := c.Do(ctx, "ACL", "SAVE").Err(); err != nil {
			return fmt.Errorf("ACL SAVE as %s: %w", admin.Username, err)
		}
	}
	return nil
}

// Test logs in as user with cred and runs PING. A user not allowed to PING has logged in
// all the same, which is what Test proves.
func (a *aclService) Test(ctx context.Context, user, cred string) error {
	c := a.client(user, cred)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil && !redis.IsPermissionError(err) {
		return fmt.Errorf("redis %s: %w", a.srv.Addr, err)
	}
	return nil
}

// IsRejected reports whether Redis refused the credentials (WRONGPASS, NOAUTH).
func (a *aclService) IsRejected(err error) bool { return redis.IsAuthError(err) }

// admin reads the secret that masterarn names: the user that runs ACL SETUSER.
func (a *aclService) admin(ctx context.Context) (rotasafe.DBSecret, error) {
	if a.masterARN == "" {
		return rotasafe.DBSecret{}, errors.New("AWSCURRENT: field \"masterarn\" is missing; it must name the secret of a user allowed to run ACL SETUSER")
	}
	v, err := rotasafe.Fetch(ctx, a.api, a.masterARN, "", rotasafe.StageCurrent)
	if err != nil {
		return rotasafe.DBSecret{}, fmt.Errorf("read the masterarn secret: %w", err)
	}
	s, err := parse(v, "the masterarn secret's "+rotasafe.StageCurrent)
	if err != nil {
		return rotasafe.DBSecret{}, err
	}
	if redissecret.AddrOf(s) != a.srv.Addr {
		return rotasafe.DBSecret{}, fmt.Errorf("the masterarn secret names server %s, AWSCURRENT %s; they must be the same", redissecret.AddrOf(s), a.srv.Addr)
	}
	return s, nil
}

// client returns a client of one connection that logs in as user and does not retry.
func (a *aclService) client(user, password string) *redis.Client {
	opt := &redis.Options{
		Addr:            a.srv.Addr,
		Username:        user,
		Password:        password,
		DialTimeout:     a.cfg.timeout,
		ReadTimeout:     a.cfg.timeout,
		WriteTimeout:    a.cfg.timeout,
		MaxRetries:      -1,
		PoolSize:        1,
		DisableIdentity: true,
		TLSConfig:       redissecret.TLSConfig(a.cfg.tls, a.srv),
	}
	c := redis.NewClient(opt)
	if a.cfg.hook != nil {
		c.AddHook(a.cfg.hook)
	}
	return c
}

// hashes matches the password hashes an ACL SETUSER error may quote back.
var hashes = regexp.MustCompile(`#?[0-9a-fA-F]{64}`)

// redact returns err with every password hash in its text replaced: Redis quotes a rejected
// ACL rule in its error, and a hash of a password is not to be shown either.
func redact(err error) error {
	msg := err.Error()
	clean := hashes.ReplaceAllString(msg, "#<hash>")
	if clean == msg {
		return err
	}
	return errors.New(clean)
}
