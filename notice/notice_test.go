package notice_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe/notice"
)

const (
	testARN     = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/app/db-AbCdEf"
	testVersion = "c0ffee00-1234-4321-8888-0123456789ab"
)

func good() notice.Notice {
	return notice.Notice{SecretARN: testARN, VersionID: testVersion, Kind: notice.PasswordChanged,
		At: time.Date(2026, 1, 2, 3, 4, 5, 678000000, time.UTC)}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, kind := range []notice.Kind{notice.PendingStored, notice.PasswordChanging, notice.PasswordChanged, notice.Finished} {
		for _, at := range []time.Time{{}, time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.FixedZone("x", 3600))} {
			n := good()
			n.Kind, n.At = kind, at
			b, err := notice.Encode(n)
			if err != nil {
				t.Fatalf("Encode(%v): %v", n, err)
			}
			back, err := notice.Decode(b)
			if err != nil {
				t.Fatalf("Decode(%s): %v", b, err)
			}
			if back.SecretARN != n.SecretARN || back.VersionID != n.VersionID || back.Kind != n.Kind || !back.At.Equal(n.At) {
				t.Fatalf("round trip: got %v at %v, want %v at %v", back, back.At, n, n.At)
			}
		}
	}
}

func TestWireForm(t *testing.T) {
	t.Parallel()
	b, err := notice.Encode(good())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"kind":"password-changed","secret":"` + testARN + `","version":"` + testVersion + `","at":"2026-01-02T03:04:05.678Z"}`
	if string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	// Fields a later publisher adds within version 1 are ignored.
	n, err := notice.Decode([]byte(`{"v":1,"kind":"finished","secret":"` + testARN + `","version":"` + testVersion + `","new":{"x":[1]}}`))
	if err != nil || n.Kind != notice.Finished || !n.At.IsZero() {
		t.Fatalf("got %v, %v; want a finished notice without a time", n, err)
	}
}

// TestWireLead: a lead travels as whole milliseconds, only when set, and a reader bounds it.
func TestWireLead(t *testing.T) {
	t.Parallel()
	n := good()
	n.Kind, n.Lead = notice.PendingStored, 2500*time.Millisecond
	b, err := notice.Encode(n)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"kind":"pending-stored","secret":"` + testARN + `","version":"` + testVersion + `","at":"2026-01-02T03:04:05.678Z","lead_ms":2500}`
	if string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	back, err := notice.Decode(b)
	if err != nil || back.Lead != n.Lead {
		t.Fatalf("got %v (lead %v), %v; want lead %v", back, back.Lead, err, n.Lead)
	}
	for _, bad := range []string{`-1`, `900001`, `"5"`, `1.5`} {
		in := `{"v":1,"kind":"pending-stored","secret":"` + testARN + `","version":"` + testVersion + `","lead_ms":` + bad + `}`
		if _, err := notice.Decode([]byte(in)); err == nil || !strings.Contains(err.Error(), `"lead_ms"`) {
			t.Errorf("lead_ms %s: got %v, want an error naming the field", bad, err)
		}
	}
	n.Lead = notice.MaxLead + time.Millisecond
	if _, err := notice.Encode(n); err == nil {
		t.Error("Encode took a lead beyond MaxLead")
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-s3cr3t-value"
	obj := func(fields string) string {
		return `{"v":1,"kind":"password-changed","secret":"` + testARN + `","version":"` + testVersion + `"` + fields + `}`
	}
	for _, tc := range []struct {
		name, in, field, reason string
	}{
		{"empty", ``, "", "is not a JSON object"},
		{"text", secret, "", "is not a JSON object"},
		{"array", `["` + secret + `"]`, "", "is not a JSON object"},
		{"truncated", `{"v":1,"kind":"` + secret, "", "is not valid JSON"},
		{"trailing", obj("") + secret, "", "is not valid JSON"},
		{"too long", `{"v":1,"x":"` + strings.Repeat("a", notice.MaxSize) + `"}`, "", "is longer than 4096 bytes"},
		{"no version", `{"kind":"finished","password":"` + secret + `"}`, "v", "is missing"},
		{"version string", `{"v":"1"}`, "v", "want a whole number, got a string"},
		{"version 2", `{"v":2,"kind":"finished"}`, "v", "wire version 2 is not supported"},
		{"kind missing", `{"v":1,"secret":"` + testARN + `","version":"` + testVersion + `"}`, "kind", "is missing"},
		{"kind unknown", strings.Replace(obj(""), "password-changed", "rolled-back", 1), "kind", `"rolled-back" is not one of`},
		{"kind garbage", strings.Replace(obj(""), "password-changed", secret, 1), "kind", "is not a notice kind"},
		{"kind number", `{"v":1,"kind":7}`, "kind", "want a JSON string, got a number"},
		{"secret missing", `{"v":1,"kind":"finished","version":"` + testVersion + `"}`, "secret", "is missing"},
		{"secret not arn", strings.Replace(obj(""), testARN, secret, 1), "secret", "is not an ARN"},
		{"secret control", strings.Replace(obj(""), testARN, testARN+`\n`, 1), "secret", "not printable ASCII"},
		{"secret object", `{"v":1,"kind":"finished","secret":{"password":"` + secret + `"}}`, "secret", "want a JSON string, got an object"},
		{"version missing", `{"v":1,"kind":"finished","secret":"` + testARN + `"}`, "version", "is missing"},
		{"version long", strings.Replace(obj(""), testVersion, strings.Repeat("a", 65), 1), "version", "is longer than 64 bytes"},
		{"version space", strings.Replace(obj(""), testVersion, "a b", 1), "version", "not printable ASCII"},
		{"version utf8", strings.Replace(obj(""), testVersion, "v\u00e9", 1), "version", "not printable ASCII"},
		{"at not time", obj(`,"at":"` + secret + `"`), "at", "is not an RFC 3339 time"},
		{"at number", obj(`,"at":1700000000`), "at", "want a JSON string, got a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, err := notice.Decode([]byte(tc.in))
			ne, ok := errors.AsType[*notice.Error](err)
			if !ok {
				t.Fatalf("got %v, %v; want a *notice.Error", n, err)
			}
			if ne.Field != tc.field || !strings.Contains(ne.Reason, tc.reason) {
				t.Fatalf("got field %q reason %q, want field %q reason containing %q", ne.Field, ne.Reason, tc.field, tc.reason)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunter") {
				t.Fatalf("the error quotes the input: %v", err)
			}
		})
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		edit  func(*notice.Notice)
		field string
	}{
		{"no secret", func(n *notice.Notice) { n.SecretARN = "" }, "secret"},
		{"name, not ARN", func(n *notice.Notice) { n.SecretARN = "prod/app/db" }, "secret"},
		{"no version", func(n *notice.Notice) { n.VersionID = "" }, "version"},
		{"no kind", func(n *notice.Notice) { n.Kind = "" }, "kind"},
		{"time out of range", func(n *notice.Notice) { n.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := good()
			tc.edit(&n)
			_, err := notice.Encode(n)
			if ne, ok := errors.AsType[*notice.Error](err); !ok || ne.Field != tc.field {
				t.Fatalf("got %v, want a *notice.Error about %q", err, tc.field)
			}
		})
	}
}

func TestPrinting(t *testing.T) {
	t.Parallel()
	n := good()
	want := `notice.Notice{Kind:"password-changed" SecretARN:"` + testARN + `" VersionID:"` + testVersion + `"}`
	if got := fmt.Sprint(n); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("got", "notice", n)
	if !strings.Contains(buf.String(), "notice.kind=password-changed notice.secret="+testARN+" notice.version="+testVersion) {
		t.Fatalf("log line: %s", buf.String())
	}
}
