package rotasafe_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rotasafe/rotasafe"
)

// eventErrorShape is every message ParseEvent may return, with the one quoted Step value it
// echoes (an unknown printable step) replaced by STEP: fixed words only, no input.
var eventErrorShape = regexp.MustCompile(`^rotasafe: rotation event(` +
	` is not a JSON object| is not valid JSON` +
	`|: field "(SecretId|ClientRequestToken|Step|RotationToken)" ` +
	`(want a JSON string, got [a-z ]+|is missing|is not a rotation step|STEP is not one of createSecret, setSecret, testSecret, finishSecret))$`)

// FuzzParseEvent checks ParseEvent on any input: it never panics; an error is built from fixed
// words (and, for an unknown printable step, that step), so it never quotes a RotationToken or
// any other input; a good parse round-trips through json.Marshal; and fmt and log/slog print
// the same whatever the RotationToken is.
func FuzzParseEvent(f *testing.F) {
	for _, seed := range []string{
		`{"SecretId":"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf","ClientRequestToken":"c0ffee00-1234-4321-8888-0123456789ab","Step":"createSecret"}`,
		`{"SecretId":"s","ClientRequestToken":"t","Step":"finishSecret","RotationToken":"rt-0123456789abcdef"}`,
		`{"SecretId":"s","ClientRequestToken":"t","Step":"noSuchStep","RotationToken":"rt-0123456789abcdef"}`,
		`{"SecretId":"s","ClientRequestToken":"t","Step":"setSecret","RotationToken":12345678901234567890}`,
		`{"SecretId":"s","ClientRequestToken":"t","Step":"testSecret","RotationToken":null,"NewField":{"x":[1,2]}}`,
		`{"SecretId":"s","ClientRequestToken":"t","Step":"testSecret","RotationToken":"rt-\u00e9\ud83d\ude00"}`,
		`{"SecretId":"s","ClientRequestToken":"t","Step":"createSecret","RotationToken":"rt-01234`,
		`{"SecretId":"s","SecretId":"dup","ClientRequestToken":"t","Step":"createSecret"}`,
		`{"Step":"\u0000bad"}`, `{"SecretId":"s","ClientRequestToken":"t","Step":" "}`, `[]`, `null`, ``, `   {}`, `{"SecretId":"s"}x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := rotasafe.ParseEvent(data)
		if err != nil {
			msg := err.Error()
			if ev.Step != "" {
				msg = strings.Replace(msg, `field "Step" `+strconv.Quote(ev.Step)+" ", `field "Step" STEP `, 1)
			}
			if !eventErrorShape.MatchString(msg) {
				t.Fatalf("error %q holds more than fixed words", err) // so no RotationToken either
			}
			var ee *rotasafe.EventError
			if !errors.As(err, &ee) {
				t.Fatalf("got %T, want *rotasafe.EventError", err)
			}
			return
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("json.Marshal of a parsed event: %v", err)
		}
		back, err := rotasafe.ParseEvent(b)
		if err != nil {
			t.Fatalf("the JSON of a parsed event does not parse: %v\n%s", err, b)
		}
		if back != ev {
			t.Fatalf("round trip: got %#v, want %#v", []string{back.SecretID, back.ClientRequestToken, back.Step}, []string{ev.SecretID, ev.ClientRequestToken, ev.Step})
		}
		// Printing must not depend on the token: compare with another token of the same kind.
		other := ev
		if ev.RotationToken != "" {
			other.RotationToken = "another-token"
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			if got, want := fmt.Sprintf(verb, ev), fmt.Sprintf(verb, other); got != want {
				t.Fatalf("%s prints the RotationToken: %q vs %q", verb, got, want)
			}
		}
		if got, want := logLine(ev), logLine(other); got != want {
			t.Fatalf("log/slog prints the RotationToken: %q vs %q", got, want)
		}
	})
}

// logLine logs ev with the JSON and the text handler.
func logLine(ev rotasafe.Event) string {
	var buf bytes.Buffer
	opts := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		return a
	}}
	slog.New(slog.NewJSONHandler(&buf, opts)).Info("m", "event", ev, "any", any(ev))
	slog.New(slog.NewTextHandler(&buf, opts)).Info("m", "event", ev)
	return buf.String()
}
