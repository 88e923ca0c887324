package scram_test

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe/internal/scram"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
)

// fuzzVerifierShape is the form of a PostgreSQL SCRAM-SHA-256 verifier.
var fuzzVerifierShape = regexp.MustCompile(`^SCRAM-SHA-256\$4096:([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*):([A-Za-z0-9+/]+=*)$`)

// FuzzSCRAMVerifier checks New on any password: it never panics; it refuses exactly
// the empty and the non-ASCII passwords, with an error that does not hold the password;
// otherwise the verifier has PostgreSQL's shape (a 16-byte salt and two 32-byte keys), does not
// hold the password, and its keys are the ones RFC 5802 derives from the password and salt.
//
// With ROTASAFE_FUZZ_PG=1 each fuzz process also starts a PostgreSQL cluster, gives a role the
// verifier and logs in with the password (passwords with a NUL byte excepted: no client can
// send one).
func FuzzSCRAMVerifier(f *testing.F) {
	var pg *pgtest.Cluster
	var admin *pgx.Conn
	role := "fuzz_scram"
	if os.Getenv("ROTASAFE_FUZZ_PG") == "1" {
		pg = pgtest.New(f)
		if err := pg.CreateRole(f.Context(), role, "initial-password"); err != nil {
			f.Fatal(err)
		}
		var err error
		if admin, err = pgx.Connect(f.Context(), pg.DSN()); err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { admin.Close(context.Background()) })
	}
	for _, seed := range []string{"", "a", "pencil", "correct horse battery staple", "p@ss:w/o\"r'd\\", "\x00\x01\x7f", "\x01\x1b\x7f tab\there",
		"héllo", "\xff\xfe", strings.Repeat("x", 4096), "SCRAM-SHA-256$4096:", "0123456789abcdef0123456789abcdef"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, password string) {
		v, err := scram.New(password)
		ascii := true
		for i := range len(password) {
			ascii = ascii && password[i] < 0x80
		}
		wantErr := password == "" || !ascii
		if (err != nil) != wantErr {
			t.Fatalf("password of %d bytes (ASCII %v): got error %v, want an error: %v", len(password), ascii, err, wantErr)
		}
		if err != nil {
			if password != "" && strings.Contains(err.Error(), password) {
				t.Fatalf("the error holds the password: %v", err)
			}
			return
		}
		m := fuzzVerifierShape.FindStringSubmatch(v)
		if m == nil {
			t.Fatalf("verifier %q does not have the shape SCRAM-SHA-256$4096:<b64>$<b64>:<b64>", v)
		}
		var parts [3][]byte
		for i, want := range []int{16, 32, 32} {
			b, err := base64.StdEncoding.DecodeString(m[i+1])
			if err != nil || len(b) != want {
				t.Fatalf("part %d of the verifier: %d bytes, %v; want %d bytes of standard base64", i+1, len(b), err, want)
			}
			parts[i] = b
		}
		if salted := strings.TrimPrefix(v, "SCRAM-SHA-256$4096:"); len(password) >= 8 && strings.Contains(salted, password) {
			t.Fatalf("the verifier's salt and keys hold the password")
		}
		salted, err := pbkdf2.Key(sha256.New, password, parts[0], 4096, 32)
		if err != nil {
			t.Fatal(err)
		}
		mac := func(msg string) []byte { h := hmac.New(sha256.New, salted); h.Write([]byte(msg)); return h.Sum(nil) }
		stored := sha256.Sum256(mac("Client Key"))
		if !hmac.Equal(stored[:], parts[1]) || !hmac.Equal(mac("Server Key"), parts[2]) {
			t.Fatalf("the verifier's keys are not those of the password and salt")
		}
		if pg == nil || strings.Contains(password, "\x00") {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "ALTER ROLE "+role+" PASSWORD '"+v+"'"); err != nil { // v has the shape checked above: no quote
			t.Fatal(err)
		}
		cfg, err := pgx.ParseConfig(pg.ConnString(role, "x", "postgres"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Password = password
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("a role given the verifier of a %d-byte password does not log in with it: %v", len(password), err)
		}
		conn.Close(ctx)
	})
}
