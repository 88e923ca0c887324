package rotasafe_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rotasafe/rotasafe"
)

func TestParseEvent(t *testing.T) {
	t.Parallel()
	const tok = "e5b1a0fe-93e5-4c30-bd4c-0b5a7e0b6d4f-rotation-token"
	tests := []struct {
		name    string
		in      string
		want    rotasafe.Event
		wantErr string
	}{
		{
			name: "as Secrets Manager sends it",
			in:   `{"Step":"createSecret","SecretId":"arn:aws:secretsmanager:us-east-1:1:secret:db-AbCdEf","ClientRequestToken":"t1","RotationToken":"` + tok + `"}`,
			want: rotasafe.Event{Step: rotasafe.StepCreateSecret, SecretID: "arn:aws:secretsmanager:us-east-1:1:secret:db-AbCdEf", ClientRequestToken: "t1", RotationToken: tok},
		},
		{
			name: "newer fields are ignored",
			in:   `{"Step":"finishSecret","SecretId":"s","ClientRequestToken":"t","SomethingNew":{"a":1}}`,
			want: rotasafe.Event{Step: rotasafe.StepFinishSecret, SecretID: "s", ClientRequestToken: "t"},
		},
		{name: "snake case step from the user guide", in: `{"Step":"create_secret","SecretId":"s","ClientRequestToken":"t"}`, wantErr: `"create_secret" is not one of`},
		{name: "no token", in: `{"Step":"setSecret","SecretId":"s"}`, wantErr: `"ClientRequestToken" is missing`},
		{name: "no secret", in: `{"Step":"setSecret","ClientRequestToken":"t"}`, wantErr: `"SecretId" is missing`},
		{name: "token is a number", in: `{"Step":"setSecret","SecretId":"s","ClientRequestToken":7}`, wantErr: `want a JSON string, got a number`},
		{name: "not an object", in: `[1]`, wantErr: "is not a JSON object"},
		{name: "broken", in: `{"Step":"setSecret",`, wantErr: "is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := rotasafe.ParseEvent([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestEventJSONIsTheWireFormButPrintingHidesTheToken(t *testing.T) {
	t.Parallel()
	const tok = "rotation-token-0123456789-abcdefghijkl"
	ev := rotasafe.Event{SecretID: "arn:s", ClientRequestToken: "t", Step: rotasafe.StepSetSecret, RotationToken: tok}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"SecretId":"arn:s","ClientRequestToken":"t","Step":"setSecret","RotationToken":"` + tok + `"}`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	back, err := rotasafe.ParseEvent(b)
	if err != nil || back != ev {
		t.Errorf("round trip: got %v, %v", back, err)
	}
	// Printing and logging must not show it.
	var printed strings.Builder
	for _, s := range []string{ev.String(), fmt.Sprintf("%#v", ev)} {
		printed.WriteString(s)
	}
	if strings.Contains(printed.String(), tok) {
		t.Errorf("token printed: %s", printed.String())
	}
	// assertNoLeak also marshals to JSON, which is the wire form; check fmt and slog via a
	// wrapper that is not the Event itself.
	assertNoLeak(t, struct{ E fmtOnly }{fmtOnly{ev}}, tok)
}

// fmtOnly carries an Event into assertNoLeak's JSON step without using Event's wire form.
type fmtOnly struct{ E rotasafe.Event }

func (f fmtOnly) MarshalJSON() ([]byte, error) { return json.Marshal(f.E.String()) }
func (f fmtOnly) String() string               { return f.E.String() }
