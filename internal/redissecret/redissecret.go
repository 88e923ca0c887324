// Package redissecret reads where a Redis server is from a database secret (host, port, and
// the "tls" or "ssl" field DBSecret does not model) and computes the password hashes Redis ACLs
// hold. It is what both sides of a Redis rotation share: the rotator (rotate/redisacl) and the
// application's client (redisconn), neither of which may import the other.
package redissecret

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"net"
	"strconv"
	"strings"

	"github.com/rotasafe/rotasafe"
)

// DefaultPort is the port a secret without one names.
const DefaultPort = 6379

// Server is where a secret's Redis is and how to reach it.
type Server struct {
	Addr string // host:port
	Host string
	TLS  bool // the secret asks for TLS ("tls": true, or "ssl": true)
}

// AddrOf returns the host:port a secret names.
func AddrOf(s rotasafe.DBSecret) string {
	port := s.Port
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(port))
}

// ServerOf reads where a secret's Redis is. raw is the secret's JSON, for the TLS fields
// that DBSecret does not model; it was parsed by ParseDBSecret already, so it is valid JSON.
func ServerOf(s rotasafe.DBSecret, raw string) (Server, error) {
	tls, err := TLSField(raw)
	if err != nil {
		return Server{}, err
	}
	return Server{Addr: AddrOf(s), Host: s.Host, TLS: tls}, nil
}

// TLSField reads the secret's "tls" field (or "ssl", which some tools write): a JSON boolean
// or the string "true" / "false". The error names the field, never its value.
func TLSField(raw string) (bool, error) {
	var f struct {
		TLS json.RawMessage `json:"tls"`
		SSL json.RawMessage `json:"ssl"`
	}
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return false, &rotasafe.SecretFormatError{Offset: -1, Reason: "is not a JSON object"}
	}
	for _, field := range []struct {
		name string
		v    json.RawMessage
	}{{"tls", f.TLS}, {"ssl", f.SSL}} {
		switch strings.Trim(string(field.v), `"`) {
		case "", "null", "false":
		case "true":
			return true, nil
		default:
			return false, &rotasafe.SecretFormatError{Field: field.name, Offset: -1, Reason: "want true or false"}
		}
	}
	return false, nil
}

// TLSConfig returns the TLS configuration to reach srv with, or nil for a plain connection:
// a clone of own (its ServerName set to srv's host when empty) when own is not nil, else the
// system's roots when the secret asks for TLS.
func TLSConfig(own *tls.Config, srv Server) *tls.Config {
	switch {
	case own != nil:
		cfg := own.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = srv.Host
		}
		return cfg
	case srv.TLS:
		return &tls.Config{ServerName: srv.Host, MinVersion: tls.VersionTLS12}
	}
	return nil
}

// PasswordHash returns the form in which ACL SETUSER takes a password without seeing it,
// and in which ACL GETUSER and ACL LIST show it: '#' and the lowercase hex SHA-256 of the
// password.
func PasswordHash(password string) string {
	sum := sha256.Sum256([]byte(password))
	return "#" + hex.EncodeToString(sum[:])
}
