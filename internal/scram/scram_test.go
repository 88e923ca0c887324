package scram

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestVerifierRFC7677 checks the verifier against the SCRAM-SHA-256 exchange in RFC 7677,
// section 3: ServerKey must give the server signature the RFC shows, and StoredKey must accept
// the RFC's client proof.
func TestVerifierRFC7677(t *testing.T) {
	t.Parallel()
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	v, err := Verifier("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	const want = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
	if v != want {
		t.Fatalf("got %s, want %s", v, want)
	}
	keys := strings.SplitN(strings.SplitN(v, "$", 3)[2], ":", 2)
	storedKey, _ := base64.StdEncoding.DecodeString(keys[0])
	serverKey, _ := base64.StdEncoding.DecodeString(keys[1])
	const authMessage = "n=user,r=rOprNGfwEbeRWgbNEkqO," +
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," +
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	if got := base64.StdEncoding.EncodeToString(hmacSHA256(serverKey, authMessage)); got != "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Errorf("server signature: got %s, want the RFC's", got)
	}
	// The server's check: ClientKey = proof XOR HMAC(StoredKey, AuthMessage), and
	// SHA-256(ClientKey) must equal StoredKey.
	proof, _ := base64.StdEncoding.DecodeString("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	sig := hmacSHA256(storedKey, authMessage)
	for i := range proof {
		proof[i] ^= sig[i]
	}
	if sum := sha256.Sum256(proof); !hmac.Equal(sum[:], storedKey) {
		t.Error("the RFC's client proof does not verify against StoredKey")
	}
}

func TestVerifierRefuses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, password string
		want           error
	}{
		{"empty", "", ErrEmpty},
		{"not ASCII", "pässwörd-secret", ErrNotASCII},
	} {
		_, err := Verifier(tt.password, []byte("0123456789abcdef"), 4096)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
		if tt.password != "" && err != nil && strings.Contains(err.Error(), tt.password) {
			t.Errorf("%s: error %q holds the password", tt.name, err)
		}
	}
}

// TestNew checks that New salts each verifier afresh with 16 bytes and refuses what Verifier
// refuses.
func TestNew(t *testing.T) {
	t.Parallel()
	a, err := New("same")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New("same")
	if a == b {
		t.Error("two verifiers of one password are equal: the salt is not random")
	}
	want := fmt.Sprintf("SCRAM-SHA-256$%d:", Iterations)
	salt, err := base64.StdEncoding.DecodeString(strings.Split(strings.TrimPrefix(a, want), "$")[0])
	if !strings.HasPrefix(a, want) || err != nil || len(salt) != 16 {
		t.Errorf("got %d salt bytes (%v) after %q, want 16 after %s", len(salt), err, a[:min(len(a), len(want))], want)
	}
	if _, err := New(""); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty password: got %v, want ErrEmpty", err)
	}
}

func TestHolds(t *testing.T) {
	v, err := New("s3cret-Pw")
	if err != nil {
		t.Fatal(err)
	}
	if !Holds(v, "s3cret-Pw") {
		t.Error("Holds is false for the verifier's own password")
	}
	for _, tc := range []struct{ verifier, password string }{
		{v, "s3cret-pw"},
		{v, ""},
		{"md5abcdef", "s3cret-Pw"},
		{"SCRAM-SHA-256$x:AAAA$a:b", "s3cret-Pw"},
		{"SCRAM-SHA-256$4096:not base64!$a:b", "s3cret-Pw"},
		{"SCRAM-SHA-256$4096", "s3cret-Pw"},
		{"", "s3cret-Pw"},
	} {
		if Holds(tc.verifier, tc.password) {
			t.Errorf("Holds(%q, …) is true for another password or a malformed verifier", tc.verifier)
		}
	}
}
