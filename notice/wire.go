package notice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// WireVersion is the version of the wire form Encode writes and Decode reads. A later
// version that a reader must understand to act on a notice gets a new number; fields added
// within a version are optional, and Decode ignores fields it does not know.
const WireVersion = 1

// MaxSize is the largest wire form Decode reads. A notice encodes to a few hundred bytes.
const MaxSize = 4096

// wire is the JSON form of a Notice, version 1:
//
//	{"v":1,"kind":"pending-stored","secret":"arn:aws:secretsmanager:...","version":"...","at":"2026-01-02T03:04:05.678Z","lead_ms":30000}
//
// lead_ms and the kind password-changing came later within version 1: a reader that does not
// know lead_ms ignores it (and reads at once, as before), and one that does not know the kind
// drops that notice as it drops every notice it cannot decode.
type wire struct {
	V       int    `json:"v"`
	Kind    string `json:"kind"`
	Secret  string `json:"secret"`
	Version string `json:"version"`
	At      string `json:"at,omitempty"`
	LeadMS  int64  `json:"lead_ms,omitempty"`
}

// Encode returns the wire form of n: a small JSON object with a version number, readable in
// redis-cli or the nats tool. It fails, with an *Error, when n is not valid.
func Encode(n Notice) ([]byte, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	w := wire{V: WireVersion, Kind: string(n.Kind), Secret: n.SecretARN, Version: n.VersionID}
	if !n.At.IsZero() {
		w.At = n.At.UTC().Format(time.RFC3339Nano)
	}
	if n.Lead > 0 {
		w.LeadMS = max(1, n.Lead.Milliseconds())
	}
	return json.Marshal(w)
}

// Decode reads the wire form of a notice and validates it. Anything else (not JSON, another
// wire version, a missing or malformed field, an unknown kind, more than MaxSize bytes) is
// an *Error that names the field and never quotes the input: a channel may carry anything,
// a secret published there by mistake included.
func Decode(data []byte) (Notice, error) {
	if len(data) > MaxSize {
		return Notice{}, &Error{Reason: fmt.Sprintf("is longer than %d bytes", MaxSize)}
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Notice{}, &Error{Reason: "is not a JSON object"}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		// A syntax error quotes an input character; report where it is instead.
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return Notice{}, &Error{Reason: fmt.Sprintf("is not valid JSON (at byte %d)", se.Offset)}
		}
		return Notice{}, &Error{Reason: "is not a JSON object"}
	}
	v, ok := raw["v"]
	if !ok {
		return Notice{}, &Error{Field: "v", Reason: "is missing: not a rotasafe notice"}
	}
	var ver int
	if json.Unmarshal(v, &ver) != nil {
		return Notice{}, &Error{Field: "v", Reason: "want a whole number, got " + jsonKind(v)}
	}
	if ver != WireVersion {
		return Notice{}, &Error{Field: "v", Reason: fmt.Sprintf("wire version %d is not supported (this reader knows %d)", ver, WireVersion)}
	}
	var n Notice
	var at string
	for _, f := range []struct {
		name string
		ptr  *string
	}{
		{"kind", (*string)(&n.Kind)},
		{"secret", &n.SecretARN},
		{"version", &n.VersionID},
		{"at", &at},
	} {
		v, ok := raw[f.name]
		if !ok || string(v) == "null" {
			continue
		}
		if v[0] != '"' || json.Unmarshal(v, f.ptr) != nil {
			return Notice{}, &Error{Field: f.name, Reason: "want a JSON string, got " + jsonKind(v)}
		}
	}
	if v, ok := raw["lead_ms"]; ok && string(v) != "null" {
		var ms int64
		if json.Unmarshal(v, &ms) != nil {
			return Notice{}, &Error{Field: "lead_ms", Reason: "want a whole number, got " + jsonKind(v)}
		}
		if ms < 0 || ms > MaxLead.Milliseconds() {
			return Notice{}, &Error{Field: "lead_ms", Reason: fmt.Sprintf("is outside 0 to %d", MaxLead.Milliseconds())}
		}
		n.Lead = time.Duration(ms) * time.Millisecond
	}
	if at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return Notice{}, &Error{Field: "at", Reason: "is not an RFC 3339 time"}
		}
		n.At = t.UTC()
	}
	if err := n.Validate(); err != nil {
		return Notice{}, err
	}
	return n, nil
}

// jsonKind names the kind of a JSON value, for errors that must not quote it.
func jsonKind(v json.RawMessage) string {
	switch v = bytes.TrimSpace(v); {
	case len(v) == 0:
		return "nothing"
	case v[0] == '"':
		return "a string"
	case v[0] == '{':
		return "an object"
	case v[0] == '[':
		return "an array"
	case string(v) == "true" || string(v) == "false":
		return "a boolean"
	case string(v) == "null":
		return "null"
	default:
		return "a number"
	}
}
