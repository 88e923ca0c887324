package rotasafe_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/rotasafe/rotasafe"
)

const pw = "s3cr3t-P@ss:w/rd\"'\\"

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDBSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    rotasafe.DBSecret
		wantErr string // substring of the error; "" means success
	}{
		{
			name: "documented postgres secret",
			in:   `{"engine":"postgres","host":"db.example","username":"app","password":"PW","dbname":"orders","port":5432}`,
			want: rotasafe.DBSecret{Engine: "postgres", Host: "db.example", Username: "app", Password: "PW", DBName: "orders", Port: 5432},
		},
		{
			name: "alternating users secret with masterarn",
			in:   `{"engine":"postgres","host":"h","username":"app_clone","password":"PW","masterarn":"arn:aws:secretsmanager:us-east-1:1:secret:master-AbCdEf"}`,
			want: rotasafe.DBSecret{Engine: "postgres", Host: "h", Username: "app_clone", Password: "PW", MasterARN: "arn:aws:secretsmanager:us-east-1:1:secret:master-AbCdEf"},
		},
		{name: "port as float written by some tools", in: `{"host":"h","username":"u","password":"p","port":5432.0}`, want: rotasafe.DBSecret{Host: "h", Username: "u", Password: "p", Port: 5432}},
		{name: "null fields are absent", in: `{"host":"h","username":"u","password":"p","port":null,"dbname":null}`, want: rotasafe.DBSecret{Host: "h", Username: "u", Password: "p"}},
		{name: "missing username", in: `{"host":"h","password":"p"}`, wantErr: `field "username" is missing`},
		{name: "empty password", in: `{"host":"h","username":"u","password":""}`, wantErr: `field "password" is missing`},
		{name: "missing host", in: `{"username":"u","password":"p"}`, wantErr: `field "host" is missing`},
		{name: "port is a word", in: `{"host":"h","username":"u","password":"p","port":"fivefour"}`, wantErr: `field "port" want a whole number`},
		{name: "port out of range", in: `{"host":"h","username":"u","password":"p","port":70000}`, wantErr: `field "port" is out of range`},
		{name: "port is a boolean", in: `{"host":"h","username":"u","password":"p","port":true}`, wantErr: `field "port" want a number or a numeric string, got a boolean`},
		{name: "password is a number", in: `{"host":"h","username":"u","password":12345}`, wantErr: `field "password" want a JSON string, got a number`},
		{name: "array", in: `["h","u"]`, wantErr: "want a JSON object, got an array"},
		{name: "empty input", in: ``, wantErr: "is empty"},
		{name: "truncated", in: `{"host":"h","username":"u","password":"p`, wantErr: "is not valid JSON"},
		{name: "plain string secret", in: `hunter2`, wantErr: "is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := rotasafe.ParseDBSecret([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				if !errors.Is(err, rotasafe.ErrSecretFormat) {
					t.Errorf("errors.Is(err, ErrSecretFormat) = false for %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got != tt.want {
				t.Errorf("got %s (password match %v), want %s", got, got.Password == tt.want.Password, tt.want)
			}
		})
	}
}

func TestParseDBSecretPortAsString(t *testing.T) {
	t.Parallel()
	s, err := rotasafe.ParseDBSecret([]byte(`{"host":"h","username":"u","password":"p","port":"6432"}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Port != 6432 {
		t.Errorf("got port %d, want 6432", s.Port)
	}
	out, err := s.MarshalSecret()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"port":"6432"`) {
		t.Errorf("MarshalSecret = %s, want the port kept as a string", out)
	}
}

// A rotation changes the password and stores the secret again: every other field, including
// ones DBSecret does not model, must come back unchanged.
func TestMarshalSecretRoundTripKeepsUnknownFields(t *testing.T) {
	t.Parallel()
	in := `{"engine":"postgres","host":"h","username":"u","password":"old","port":5432,"dbname":"d",` +
		`"dbInstanceIdentifier":"db-1","ssl":true,"options":{"sslmode":"verify-full"},"apiKey":"k-123"}`
	s, err := rotasafe.ParseDBSecret([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	s.Password = "new"
	out, err := s.MarshalSecret()
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatal(err)
	}
	want["password"] = "new"
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	again, err := rotasafe.ParseDBSecret(out)
	if err != nil {
		t.Fatal(err)
	}
	if again.Password != "new" || again.DBInstanceIdentifier != "db-1" {
		t.Errorf("reparse lost fields: %s", again)
	}
}

func TestDBSecretNeverPrintsPassword(t *testing.T) {
	t.Parallel()
	s, err := rotasafe.ParseDBSecret(mustJSON(t, map[string]any{
		"engine": "postgres", "host": "h", "username": "u", "password": pw, "port": 5432, "extraSecret": "xtra-" + pw,
	}))
	if err != nil {
		t.Fatal(err)
	}
	assertNoLeak(t, s, pw)
	out, err := s.MarshalSecret()
	if err != nil {
		t.Fatal(err)
	}
	back, err := rotasafe.ParseDBSecret(out)
	if err != nil || back.Password != pw {
		t.Fatalf("MarshalSecret must keep the password: err %v", err)
	}
}

// assertNoLeak formats v every way a program might print or log it and fails if secret shows.
func assertNoLeak(t *testing.T, v any, secret string) {
	t.Helper()
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		outs = append(outs, fmt.Sprintf(verb, v))
	}
	outs = append(outs,
		fmt.Sprint(v), fmt.Sprintln(v),
		fmt.Sprintf("%v", []any{v}), fmt.Sprintf("%+v", map[string]any{"k": v}),
		fmt.Sprintf("%#v", struct{ V any }{v}),
		fmt.Sprintf("%v", &v),
		fmt.Errorf("wrapped: %v", v).Error(),
	)
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	for _, h := range []func(*strings.Builder) slog.Handler{
		func(b *strings.Builder) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *strings.Builder) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b strings.Builder
		slog.New(h(&b)).Info("msg", "value", v)
		outs = append(outs, b.String())
	}
	for _, o := range outs {
		for _, needle := range []string{secret, fmt.Sprintf("%x", secret), strings.Trim(fmt.Sprintf("%q", secret), `"`)} {
			if strings.Contains(o, needle) {
				t.Errorf("secret leaked in %q", o)
			}
		}
	}
}

func TestDBSecretDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		engine string
		port   int
		dbname string
	}{
		{"postgres", 5432, "postgres"},
		{"aurora-postgresql", 5432, "postgres"},
		{"mysql", 3306, ""},
		{"sqlserver", 1433, "master"},
		{"oracle", 1521, ""},
		{"redshift", 5439, "postgres"},
	}
	for _, tt := range tests {
		s := rotasafe.DBSecret{Engine: tt.engine}
		if got := s.PortOrDefault(); got != tt.port {
			t.Errorf("%s: got port %d, want %d", tt.engine, got, tt.port)
		}
		if got := s.DBNameOrDefault(); got != tt.dbname {
			t.Errorf("%s: got dbname %q, want %q", tt.engine, got, tt.dbname)
		}
	}
	if got := (rotasafe.DBSecret{Engine: "postgres", Port: 6543}).PortOrDefault(); got != 6543 {
		t.Errorf("explicit port: got %d, want 6543", got)
	}
}

// FuzzParseDBSecret: parsing never panics; a failed parse's error never contains the password
// (nor any other input string); a successful parse round-trips through MarshalSecret.
func FuzzParseDBSecret(f *testing.F) {
	f.Add(`{"engine":"postgres","host":"h","username":"u","password":"pw","port":5432}`, "pw")
	f.Add(`{"host":"h","username":"u","password":"pw","port":"5432"}`, "pw")
	f.Add(`{"host":"h","username":"u","password":pw}`, "pw")
	f.Add(`{"host":"h","username":"u","password":"pw","port":"x9"}`, "x9")
	f.Add(`{"host":"h","username":"u","password":"pw","port":true`, "pw")
	f.Add(`not json at all pw`, "pw")
	f.Fuzz(func(t *testing.T, doc, password string) {
		// As a raw document.
		s, err := rotasafe.ParseDBSecret([]byte(doc))
		if err != nil {
			if len(password) >= 4 && strings.Contains(err.Error(), password) && !strings.Contains(knownWords, password) {
				t.Fatalf("error %q quotes input %q", err, password)
			}
		} else {
			out, merr := s.MarshalSecret()
			if merr != nil {
				t.Fatalf("MarshalSecret after a good parse: %v", merr)
			}
			back, perr := rotasafe.ParseDBSecret(out)
			if perr != nil || back.Password != s.Password || back.Host != s.Host || back.Port != s.Port {
				t.Fatalf("round trip changed the secret: %v", perr)
			}
		}
		// As a password inside an otherwise valid document with a broken field.
		if password == "" {
			return
		}
		for _, d := range []string{
			`{"host":"h","username":"u","password":` + string(mustJSON(t, password)) + `,"port":"zz"}`,
			`{"host":"h","username":"u","password":` + string(mustJSON(t, password)) + `,"port":[1]}`,
			`{"host":"h","username":"u","password":` + string(mustJSON(t, password)) + `,"host":7}`,
			`{"host":"h","username":"u","password":` + string(mustJSON(t, password)),
		} {
			_, err := rotasafe.ParseDBSecret([]byte(d))
			if err == nil {
				t.Fatalf("broken document parsed")
			}
			if len(password) >= 4 && strings.Contains(err.Error(), password) && !strings.Contains(knownWords, password) {
				t.Fatalf("error %q contains the password", err)
			}
		}
	})
}

// knownWords is every fixed word an error message may contain; a fuzzed password that is a
// substring of it would match by coincidence, not because of a leak.
const knownWords = `rotasafe: database secret: field "engine" "host" "username" "password" "dbname" "port" "masterarn" ` +
	`"dbInstanceIdentifier" "dbClusterIdentifier" is missing or empty want a JSON string, got a number an object an array ` +
	`a string a boolean null nothing something that is not JSON want a number or a numeric string want a whole number ` +
	`is out of range 1-65535 is not valid JSON (at byte 0123456789) is empty, want a JSON object is not a valid JSON string`
