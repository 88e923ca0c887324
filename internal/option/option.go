// Package option holds what rotasafe's packages share about their functional options: applying
// a list of them, the checks the rotation packages (rotate, rotate/redisacl, rotate/rabbitmq)
// run on the arguments they share, so that a bad argument panics with one message in each:
// "pkg: WithX(arg): reason", and the connection settings (Conn) of the strategies of network
// services.
package option

import (
	"crypto/tls"
	"fmt"
	"time"
)

// Apply applies opts to c in order, skipping nil options.
func Apply[C any, O ~func(*C)](c *C, opts []O) {
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
}

// Duration panics when d is negative; otherwise it reports whether d replaces the default
// (zero keeps it). what names the duration in the message ("timeout").
func Duration(pkg, option, what string, d time.Duration) bool {
	if d < 0 {
		panic(fmt.Sprintf("%s: %s(%v): %s is negative", pkg, option, d, what))
	}
	return d > 0
}

// CloneSuffix returns s, the suffix that names the second user of an alternating-users
// strategy, and panics unless it is 1 to 32 bytes.
func CloneSuffix(pkg, option, s string) string {
	if s == "" || len(s) > 32 {
		panic(fmt.Sprintf("%s: %s(%q): clone suffix must be 1 to 32 bytes, got %d", pkg, option, s, len(s)))
	}
	return s
}

// Conn is how a rotation strategy of a network service (rotate/redisacl, rotate/rabbitmq)
// connects: embedded in its configuration, it backs the strategy's WithTLSConfig and
// WithTimeout options, which behave alike in each.
type Conn struct {
	TLS     *tls.Config   // nil: the strategy's default
	Timeout time.Duration // bounds each connection and call
}

// SetTLS is WithTLSConfig: c.TLS becomes a clone of cfg (later changes to cfg do not reach
// the strategy); a nil cfg keeps the default.
func (c *Conn) SetTLS(cfg *tls.Config) {
	if cfg != nil {
		c.TLS = cfg.Clone()
	}
}

// SetTimeout is WithTimeout of package pkg: zero keeps the default, a negative d panics as
// Duration does.
func (c *Conn) SetTimeout(pkg string, d time.Duration) {
	if Duration(pkg, "WithTimeout", "timeout", d) {
		c.Timeout = d
	}
}
