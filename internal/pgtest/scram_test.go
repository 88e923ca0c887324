package pgtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// TestSCRAMVerifierRFC7677 checks the verifier against the SCRAM-SHA-256
// exchange in RFC 7677, section 3: the ServerKey in the verifier must yield
// the server signature the RFC shows, and the StoredKey must accept the
// client proof it shows.
func TestSCRAMVerifierRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	v, err := scramVerifier("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	// SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>
	head, keys, ok := strings.Cut(v, "$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")
	if !ok || head != "SCRAM-SHA-256" {
		t.Fatalf("got verifier %q, want SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$...", v)
	}
	stored64, server64, _ := strings.Cut(keys, ":")
	storedKey, err1 := base64.StdEncoding.DecodeString(stored64)
	serverKey, err2 := base64.StdEncoding.DecodeString(server64)
	if err1 != nil || err2 != nil || len(storedKey) != 32 || len(serverKey) != 32 {
		t.Fatalf("bad keys in verifier %q", v)
	}

	const authMessage = "n=user,r=rOprNGfwEbeRWgbNEkqO," +
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," +
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	if got, want := base64.StdEncoding.EncodeToString(hmacSHA256(serverKey, authMessage)),
		"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="; got != want {
		t.Errorf("server signature: got %s, want %s", got, want)
	}

	// The server's check: ClientKey = proof XOR HMAC(StoredKey, AuthMessage),
	// and SHA-256(ClientKey) must equal StoredKey.
	proof, _ := base64.StdEncoding.DecodeString("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	sig := hmacSHA256(storedKey, authMessage)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ sig[i]
	}
	if sum := sha256.Sum256(clientKey); !hmac.Equal(sum[:], storedKey) {
		t.Error("the RFC's client proof does not verify against StoredKey")
	}
}

func TestSCRAMVerifierSaltAndErrors(t *testing.T) {
	a, err := newSCRAMVerifier("same")
	if err != nil {
		t.Fatal(err)
	}
	b, err := newSCRAMVerifier("same")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two verifiers of one password are equal: salt not random")
	}
	if !strings.HasPrefix(a, "SCRAM-SHA-256$"+strconv.Itoa(scramIterations)+":") {
		t.Errorf("got %q, want prefix SCRAM-SHA-256$4096:", a)
	}
	salt64 := strings.Split(strings.Split(a, ":")[1], "$")[0]
	if salt, err := base64.StdEncoding.DecodeString(salt64); err != nil || len(salt) != 16 {
		t.Errorf("got salt %q (%d bytes), want 16 bytes", salt64, len(salt))
	}
	if _, err := scramVerifier("naïve-secret", make([]byte, 16), 4096); err == nil || strings.Contains(err.Error(), "naïve-secret") {
		t.Errorf("non-ASCII password: got %v, want an error without the password", err)
	}
}
