package pgtest

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

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
