package rabbitmq

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// HashingAlgorithm is the hashing_algorithm of the password hashes PasswordHash makes.
const HashingAlgorithm = "rabbit_password_hashing_sha256"

// PasswordHash returns the form in which the management API takes a password without seeing
// it (PUT /api/users/{name} with password_hash), and shows it (GET /api/users/{name}): the
// base64 of a random 4-byte salt followed by the SHA-256 of the salt and the password.
func PasswordHash(password string) string {
	var salt [4]byte
	rand.Read(salt[:])
	return hashWithSalt(salt[:], password)
}

func hashWithSalt(salt []byte, password string) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(append(append([]byte(nil), salt...), h.Sum(nil)...))
}

// hashMatches reports whether hash, as the management API shows a user's password_hash
// under algorithm, is password's.
func hashMatches(hash, algorithm, password string) bool {
	if algorithm != HashingAlgorithm {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(hash)
	if err != nil || len(b) != 4+sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(hashWithSalt(b[:4], password)), []byte(hash)) == 1
}
