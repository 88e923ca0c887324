// Package scram computes the SCRAM-SHA-256 verifiers PostgreSQL stores for passwords
// (RFC 5802, RFC 7677), so that rotate and the test clusters of internal/testserver/pgtest can set a
// password without sending its plaintext to the server.
//
//	v, err := scram.New(password) // "SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>"
package scram

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNotASCII is returned for a password with a byte outside ASCII: PostgreSQL normalises
// such passwords with SASLprep first, which this package does not implement.
var ErrNotASCII = errors.New("password is not ASCII; SCRAM verifiers need SASLprep, which is not implemented")

// ErrEmpty is returned for an empty password, which PostgreSQL never accepts for a login.
var ErrEmpty = errors.New("empty password")

// Iterations is the iteration count of the verifiers New makes: PostgreSQL's default
// scram_iterations.
const Iterations = 4096

// New returns the verifier of password with a fresh 16-byte salt from crypto/rand and
// Iterations iterations. Given to ALTER ROLE ... PASSWORD, PostgreSQL stores it as is. The
// password must be ASCII (for which PostgreSQL's SASLprep changes nothing) and not empty;
// errors never hold it.
func New(password string) (string, error) {
	salt := make([]byte, 16)
	rand.Read(salt)
	return Verifier(password, salt, Iterations)
}

// Verifier returns the verifier of password with salt and iterations, in standard base64:
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>. Errors never hold the password.
func Verifier(password string, salt []byte, iterations int) (string, error) {
	if password == "" {
		return "", ErrEmpty
	}
	for i := range len(password) {
		if password[i] >= 0x80 {
			return "", ErrNotASCII
		}
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("derive SCRAM key: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Holds reports whether verifier, as PostgreSQL stores it, is a SCRAM-SHA-256 verifier of
// password: it recomputes the verifier with the stored salt and iteration count and compares
// them in constant time. A verifier of another form answers false.
func Holds(verifier, password string) bool {
	rest, ok := strings.CutPrefix(verifier, "SCRAM-SHA-256$")
	if !ok {
		return false
	}
	params, _, ok := strings.Cut(rest, "$")
	if !ok {
		return false
	}
	iter, salt64, ok := strings.Cut(params, ":")
	if !ok {
		return false
	}
	n, err := strconv.Atoi(iter)
	if err != nil || n < 1 || n > 1<<24 {
		return false
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil {
		return false
	}
	v, err := Verifier(password, salt, n)
	return err == nil && subtle.ConstantTimeCompare([]byte(v), []byte(verifier)) == 1
}
