package testserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
)

// Config is what the options of a database server package (pgtest, mysqltest) set: settings
// for the server, in order, and an external server to use instead of starting one.
type Config struct {
	Settings [][2]string // name/value pairs, in order; later ones of a name win
	URL      string      // an external server; overrides the package's environment variable
}

// Option configures a server that a database server package starts.
type Option func(*Config)

// WithURL uses the server at url instead of starting one; an empty url leaves the choice to
// the package's environment variable.
func WithURL(url string) Option {
	return func(c *Config) { c.URL = url }
}

// WithSetting appends the server setting name=value.
func WithSetting(name, value string) Option {
	return func(c *Config) { c.Settings = append(c.Settings, [2]string{name, value}) }
}

// WithMaxConnections sets max_connections; values below 1 leave the server's default.
func WithMaxConnections(n int) Option {
	if n < 1 {
		return func(*Config) {}
	}
	return WithSetting("max_connections", strconv.Itoa(n))
}

// StartConfig is the start of a database server package's Start: the configuration opts set,
// with URL taken from the environment variable envURL when no option set it. When URL is
// empty (a server is to be started) every setting's name must pass valid, or the error says
// which one did not, after prefix.
func StartConfig(opts []Option, envURL, prefix string, valid func(name string) bool) (Config, error) {
	cfg := Configure(opts)
	if cfg.URL == "" {
		cfg.URL = os.Getenv(envURL)
	}
	if cfg.URL != "" {
		return cfg, nil
	}
	for _, s := range cfg.Settings {
		if !valid(s[0]) {
			return cfg, fmt.Errorf("%s: invalid setting name %q", prefix, s[0])
		}
	}
	return cfg, nil
}

// DB is how a database server package (pgtest, mysqltest) makes its server, for StartDB.
type DB[S io.Closer] struct {
	Prefix       string                                            // the package, in errors: "pgtest"
	EnvURL       string                                            // the environment variable that names an external server
	ValidSetting func(name string) bool                            // whether the server takes a setting of that name
	External     func(ctx context.Context, url string) (S, error)  // a server for the external one at url, once it answers
	Owned        func() (S, error)                                 // a server of the package's own, not yet created: binaries found, Lifecycle and account filled in
	Create       func(s S, ctx context.Context, cfg *Config) error // makes s's directory and starts s with cfg's settings
}

// StartDB is the Start of a database server package: the configuration opts set
// (StartConfig), then, when it names an external server, External's server for it, else the
// server Owned returns once Create has started it. When Create fails the server is closed,
// which removes what Create made, and Create's error returned.
func StartDB[S io.Closer](ctx context.Context, opts []Option, db DB[S]) (S, error) {
	var none S
	cfg, err := StartConfig(opts, db.EnvURL, db.Prefix, db.ValidSetting)
	if err != nil {
		return none, err
	}
	if cfg.URL != "" {
		return db.External(ctx, cfg.URL)
	}
	s, err := db.Owned()
	if err != nil {
		return none, err
	}
	if err := db.Create(s, ctx, &cfg); err != nil {
		s.Close()
		return none, err
	}
	return s, nil
}

// Describe describes a server by its address, without credentials: "pgtest cluster at
// 127.0.0.1:5432", or "pgtest external server at ..." for the server of the package's
// environment variable.
func Describe(prefix, noun string, external bool, host string, port int) string {
	if external {
		noun = "external server"
	}
	return prefix + " " + noun + " at " + net.JoinHostPort(host, strconv.Itoa(port))
}
