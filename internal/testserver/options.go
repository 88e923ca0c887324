package testserver

import (
	"fmt"
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

// Describe describes a server by its address, without credentials: "pgtest cluster at
// 127.0.0.1:5432", or "pgtest external server at ..." for the server of the package's
// environment variable.
func Describe(prefix, noun string, external bool, host string, port int) string {
	if external {
		noun = "external server"
	}
	return prefix + " " + noun + " at " + net.JoinHostPort(host, strconv.Itoa(port))
}
