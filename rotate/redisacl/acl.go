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
// rotate.MultiCredentialStrategy: the user keeps two passwords, AWSCURRENT's and
// AWSPENDING's, so the application never has a moment without a working password.
//
//   - Create copies AWSCURRENT with a new password (the handler's password options).
//   - Set logs in as the user with the AWSCURRENT password, then, as the user of the secret
//     that the masterarn field names (read through the same API; it must be allowed to run
//     ACL GETUSER and ACL SETUSER), reads the user's password hashes (ACL GETUSER), adds the
//     pending one (ACL SETUSER <user> #<sha256(pending)>) unless it is there, and removes
//     every hash but AWSCURRENT's and AWSPENDING's (ACL SETUSER <user> !<hash>): only
//     hashes are sent, AWSPREVIOUS's password stops working, and the user's other rules
//     (on/off, keys, channels, commands) stay as they are.
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
	return rotate.MultiCredentialStrategy(func(sc *rotate.StepContext, s rotasafe.DBSecret) (rotate.MultiCredential, error) {
		srv, err := redissecret.ServerOf(s, sc.Current.SecretString)
		if err != nil {
			return nil, fmt.Errorf("AWSCURRENT (version %s): %w", sc.Current.ID, err)
		}
		return &aclService{cfg: &cfg, api: sc.API, srv: srv, masterARN: s.MasterARN}, nil
	})
}

// aclService is the MultiCredential of one Redis server, for one step. Its admin client
// is opened on first use and closed by Close.
type aclService struct {
	cfg       *config
	api       rotasafe.API
	srv       redissecret.Server
	masterARN string
	adminUser string        // the masterarn secret's user, once adminClient ran
	admin     *redis.Client // nil until adminClient
}

var _ rotate.MultiCredential = (*aclService)(nil)

// PasswordHash returns the form in which ACL SETUSER takes a password without seeing it,
// and in which ACL GETUSER and ACL LIST show it: '#' and the lowercase hex SHA-256 of the
// password.
func PasswordHash(password string) string { return redissecret.PasswordHash(password) }

// DefaultPort is the port a secret without one names.
const DefaultPort = redissecret.DefaultPort

// List returns the password hashes of user (ACL GETUSER's "passwords": lowercase hex).
func (a *aclService) List(ctx context.Context, user string) ([]string, error) {
	c, err := a.adminClient(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.Do(ctx, "ACL", "GETUSER", user).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, fmt.Errorf("no such Redis user %s", user)
	case err != nil:
		return nil, fmt.Errorf("ACL GETUSER %s as %s: %w", user, a.adminUser, err)
	}
	var pws any
	switch r := res.(type) {
	case map[any]any: // RESP3
		pws = r["passwords"]
	case []any: // RESP2: name, value, ...
		for i := 0; i+1 < len(r); i += 2 {
			if r[i] == "passwords" {
				pws = r[i+1]
			}
		}
	}
	list, ok := pws.([]any)
	if !ok && pws != nil {
		return nil, fmt.Errorf("ACL GETUSER %s: unexpected passwords reply %T", user, pws)
	}
	keys := make([]string, 0, len(list))
	for _, h := range list {
		keys = append(keys, fmt.Sprint(h))
	}
	return keys, nil
}

// Key returns the hash under which ACL GETUSER shows password.
func (a *aclService) Key(password string) string { return PasswordHash(password)[1:] }

// Add adds the hash of password to user's passwords.
func (a *aclService) Add(ctx context.Context, user, password string) error {
	return a.setUser(ctx, user, PasswordHash(password))
}

// Remove removes the password whose hash is key from user's passwords.
func (a *aclService) Remove(ctx context.Context, user, key string) error {
	return a.setUser(ctx, user, "!"+key)
}

// setUser runs ACL SETUSER user rule as the masterarn user, then ACL SAVE with WithACLSave.
func (a *aclService) setUser(ctx context.Context, user, rule string) error {
	c, err := a.adminClient(ctx)
	if err != nil {
		return err
	}
	if err := c.Do(ctx, "ACL", "SETUSER", user, rule).Err(); err != nil {
		return fmt.Errorf("ACL SETUSER %s as %s: %w", user, a.adminUser, redact(err))
	}
	if a.cfg.aclSave {
		if err := c.Do(ctx, "ACL", "SAVE").Err(); err != nil {
			return fmt.Errorf("ACL SAVE as %s: %w", a.adminUser, err)
		}
	}
	return nil
}

// Close closes the admin client, if one was opened.
func (a *aclService) Close() error {
	if a.admin == nil {
		return nil
	}
	return a.admin.Close()
}

// adminClient returns a client logged in as the masterarn user.
func (a *aclService) adminClient(ctx context.Context) (*redis.Client, error) {
	if a.admin != nil {
		return a.admin, nil
	}
	admin, err := a.adminSecret(ctx)
	if err != nil {
		return nil, err
	}
	a.adminUser, a.admin = admin.Username, a.client(admin.Username, admin.Password)
	return a.admin, nil
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

// adminSecret reads the secret that masterarn names: the user that runs ACL SETUSER.
func (a *aclService) adminSecret(ctx context.Context) (rotasafe.DBSecret, error) {
	if a.masterARN == "" {
		return rotasafe.DBSecret{}, errors.New("AWSCURRENT: field \"masterarn\" is missing; it must name the secret of a user allowed to run ACL SETUSER")
	}
	v, err := rotasafe.Fetch(ctx, a.api, a.masterARN, "", rotasafe.StageCurrent)
	if err != nil {
		return rotasafe.DBSecret{}, fmt.Errorf("read the masterarn secret: %w", err)
	}
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		return rotasafe.DBSecret{}, fmt.Errorf("the masterarn secret's %s (version %s): %w", rotasafe.StageCurrent, v.ID, err)
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
		DialTimeout:     a.cfg.Timeout,
		ReadTimeout:     a.cfg.Timeout,
		WriteTimeout:    a.cfg.Timeout,
		MaxRetries:      -1,
		PoolSize:        1,
		DisableIdentity: true,
		TLSConfig:       redissecret.TLSConfig(a.cfg.TLS, a.srv),
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
