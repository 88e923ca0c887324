package redisacl

import (
	"encoding/json"
	"net"
	"strconv"
	"strings"

	"github.com/rotasafe/rotasafe"
)

// DefaultPort is the port a secret without one names.
const DefaultPort = 6379

// server is where a secret's Redis is and how to reach it.
type server struct {
	addr string // host:port
	host string
	tls  bool // the secret asks for TLS ("tls": true, or "ssl": true)
}

// addrOf returns the host:port a secret names.
func addrOf(s rotasafe.DBSecret) string {
	port := s.Port
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(port))
}

// serverOf reads where a secret's Redis is. raw is the secret's JSON, for the TLS fields
// that DBSecret does not model; it was parsed by ParseDBSecret already, so it is valid JSON.
func serverOf(s rotasafe.DBSecret, raw string) (server, error) {
	tls, err := tlsField(raw)
	if err != nil {
		return server{}, err
	}
	return server{addr: addrOf(s), host: s.Host, tls: tls}, nil
}

// tlsField reads the secret's "tls" field (or "ssl", which some tools write): a JSON boolean
// or the string "true" / "false". The error names the field, never its value.
func tlsField(raw string) (bool, error) {
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
