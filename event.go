package rotasafe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// The four steps Secrets Manager asks a rotation function to run, in this order, as the Step
// of an Event.
const (
	StepCreateSecret = "createSecret" // store a new value under AWSPENDING
	StepSetSecret    = "setSecret"    // make the service accept the AWSPENDING value
	StepTestSecret   = "testSecret"   // prove the AWSPENDING value works
	StepFinishSecret = "finishSecret" // move AWSCURRENT to the AWSPENDING version
)

// Event is the rotation request Secrets Manager sends a rotation function, one per step. Its
// JSON form is the wire form (encoding/json reads and writes every field, RotationToken
// included), while fmt and log/slog never print RotationToken, a credential-like value that
// AWS keeps out of CloudTrail.
type Event struct {
	SecretID           string `json:"SecretId"`                // ARN of the secret being rotated
	ClientRequestToken string `json:"ClientRequestToken"`      // ID of the version the rotation creates
	Step               string `json:"Step"`                    // one of StepCreateSecret ... StepFinishSecret
	RotationToken      string `json:"RotationToken,omitempty"` // pass back on PutSecretValue; required for cross-account rotation
}

// EventError says what is wrong with a rotation event, never quoting a token.
type EventError struct {
	Field  string // JSON field name, or empty for the document as a whole
	Reason string
}

func (e *EventError) Error() string {
	if e.Field == "" {
		return "rotasafe: rotation event " + e.Reason
	}
	return fmt.Sprintf("rotasafe: rotation event: field %q %s", e.Field, e.Reason)
}

// ParseEvent decodes and validates a rotation event. Fields it does not know are ignored, so
// a newer event shape still parses.
func ParseEvent(data []byte) (Event, error) {
	var ev Event
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return ev, &EventError{Reason: "is not a JSON object"}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return ev, &EventError{Reason: "is not valid JSON"}
	}
	for _, f := range []stringField{
		{"SecretId", &ev.SecretID},
		{"ClientRequestToken", &ev.ClientRequestToken},
		{"Step", &ev.Step},
		{"RotationToken", &ev.RotationToken},
	} {
		v, ok := raw[f.name]
		if !ok || string(v) == "null" {
			continue
		}
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, f.ptr) != nil {
			return Event{}, &EventError{Field: f.name, Reason: "want a JSON string, got " + jsonKind(v)}
		}
	}
	return ev, ev.Validate()
}

// Validate checks that the event names a secret, a token and one of the four steps.
func (e Event) Validate() error {
	switch {
	case e.SecretID == "":
		return &EventError{Field: "SecretId", Reason: "is missing"}
	case e.ClientRequestToken == "":
		return &EventError{Field: "ClientRequestToken", Reason: "is missing"}
	case e.Step == "":
		return &EventError{Field: "Step", Reason: "is missing"}
	}
	switch e.Step {
	case StepCreateSecret, StepSetSecret, StepTestSecret, StepFinishSecret:
		return nil
	}
	if len(e.Step) > 64 || strings.ContainsFunc(e.Step, func(r rune) bool { return r < ' ' || r > '~' }) {
		return &EventError{Field: "Step", Reason: "is not a rotation step"}
	}
	return &EventError{Field: "Step", Reason: fmt.Sprintf("%q is not one of createSecret, setSecret, testSecret, finishSecret", e.Step)}
}

// view is what String, Format and LogValue show of the event: all but the RotationToken,
// which String only names.
func (e Event) view() redactedView {
	r := redactedView{typ: "rotasafe.Event", fields: []shown{
		{"Step", "step", e.Step},
		{"SecretId", "secret_id", e.SecretID},
		{"ClientRequestToken", "token", e.ClientRequestToken},
	}}
	r.hide("RotationToken", e.RotationToken != "")
	return r
}

// String describes the event without its RotationToken.
func (e Event) String() string { return e.view().String() }

// Format prints String under every fmt verb.
func (e Event) Format(f fmt.State, verb rune) { e.view().Format(f, verb) }

// LogValue makes log/slog print the event without its RotationToken.
func (e Event) LogValue() slog.Value { return e.view().LogValue() }
