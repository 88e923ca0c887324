package redisacl

import (
	"crypto/tls"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe/internal/option"
)

// Option configures [Strategy]. An invalid value makes Strategy panic with a message that
// names the option and the value.
type Option func(*config)

type config struct {
	// TLS nil: TLS only when the secret asks, with the system's roots. Timeout: the dial,
	// read and write timeout of each connection.
	option.Conn
	aclSave bool       // run ACL SAVE after ACL SETUSER
	hook    redis.Hook // test seam: added to every client the strategy makes
}

// DefaultTimeout bounds each connection, read and write of the strategy unless WithTimeout
// says otherwise.
const DefaultTimeout = 5 * time.Second

func newConfig(opts []Option) config {
	c := config{Conn: option.Conn{Timeout: DefaultTimeout}}
	option.Apply(&c, opts)
	return c
}

// WithTLSConfig makes the strategy connect to Redis over TLS with cfg, whatever the secret
// says. A ServerName left empty is set to the secret's host. Without this option the
// strategy uses TLS, with the system's roots, when the secret has "tls": true (or "ssl":
// true), and a plain connection otherwise. A nil cfg keeps the default.
func WithTLSConfig(cfg *tls.Config) Option { return func(c *config) { c.SetTLS(cfg) } }

// WithTimeout bounds each connection attempt, read and write to Redis (DefaultTimeout when
// not set). Zero keeps the default; a negative d is invalid.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.SetTimeout("redisacl", d) } }

// WithACLSave makes setSecret run ACL SAVE after it changed the user's passwords, for a
// server that keeps its users in an ACL file: without it the change lives in memory only and
// a restart brings back the old passwords.
func WithACLSave() Option {
	return func(c *config) { c.aclSave = true }
}

// withHook adds h to every client the strategy makes (a test seam for failing commands).
func withHook(h redis.Hook) Option {
	return func(c *config) { c.hook = h }
}
