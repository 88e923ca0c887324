package notice_test

import (
	"errors"
	"regexp"
	"testing"

	"github.com/rotasafe/rotasafe/notice"
)

// decodeErrorShape is every message Decode may return: fixed words, byte offsets, a wire
// version number and a kind made of letters and dashes; nothing else of the input.
var decodeErrorShape = regexp.MustCompile(`^notice: (` +
	`is longer than 4096 bytes|is not a JSON object|is not valid JSON \(at byte [0-9]+\)` +
	`|field "v" (is missing: not a rotasafe notice|want a whole number, got [a-z ]+|wire version -?[0-9]+ is not supported \(this reader knows 1\))` +
	`|field "(kind|secret|version|at)" (want a JSON string, got [a-z ]+|is missing)` +
	`|field "kind" ("[a-z-]{1,32}" is not one of pending-stored, password-changing, password-changed, finished|is not a notice kind)` +
	`|field "secret" (is longer than 2048 bytes|holds a character that is not printable ASCII|is not an ARN \(arn:partition:service:region:account:resource\))` +
	`|field "version" (is longer than 64 bytes|holds a character that is not printable ASCII)` +
	`|field "at" (is not an RFC 3339 time|is outside the years 1 to 9999)` +
	`|field "lead_ms" (want a whole number, got [a-z ]+|is outside 0 to 900000)` +
	`)$`)

// FuzzDecode checks Decode on any input: it never panics; a failure is a *notice.Error built
// from fixed words; a success re-encodes and decodes to the same notice.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"v":1,"kind":"password-changed","secret":"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf","version":"c0ffee00-1234-4321-8888-0123456789ab","at":"2026-01-02T03:04:05.678Z"}`,
		`{"v":1,"kind":"pending-stored","secret":"arn:a:b:c:d:e","version":"v"}`,
		`{"v":1,"kind":"pending-stored","secret":"arn:a:b:c:d:e","version":"v","lead_ms":30000}`,
		`{"v":1,"kind":"password-changing","secret":"arn:a:b:c:d:e","version":"v","lead_ms":-1}`,
		`{"v":1,"kind":"pending-stored","secret":"arn:a:b:c:d:e","version":"v","lead_ms":1.5}`,
		`{"v":1,"kind":"finished","secret":"arn:a:b:c:d:e","version":"v","at":"0000-01-01T00:00:00+01:00"}`,
		`{"v":1,"kind":"finished","secret":"arn:a:b:c:d:e","version":"v","at":null,"x":[{}]}`,
		`{"v":2}`, `{"v":1e0}`, `{"v":-1}`, `{"v":99999999999999999999}`, `{"v":1,"kind":"rolled-back"}`,
		`{"v":1,"kind":"finished","secret":"arn:a:b:c:d:\u00e9","version":"v"}`,
		`{"v":1,"v":2}`, `{"V":1}`, `[]`, `null`, ``, `  {`, `{"v":1}x`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := notice.Decode(data)
		if err != nil {
			if _, ok := errors.AsType[*notice.Error](err); !ok {
				t.Fatalf("got %T, want *notice.Error", err)
			}
			if !decodeErrorShape.MatchString(err.Error()) {
				t.Fatalf("error %q holds more than fixed words", err)
			}
			return
		}
		b, err := notice.Encode(n)
		if err != nil {
			t.Fatalf("Encode of a decoded notice: %v", err)
		}
		back, err := notice.Decode(b)
		if err != nil {
			t.Fatalf("the wire form of a decoded notice does not decode: %v\n%s", err, b)
		}
		if back != n {
			t.Fatalf("round trip: got %v at %v, want %v at %v", back, back.At, n, n.At)
		}
	})
}
