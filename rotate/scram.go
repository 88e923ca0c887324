package rotate

import (
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"

	"github.com/rotasafe/rotasafe/internal/scram"
)

// SCRAMIterations is the iteration count of the verifiers SCRAMVerifier makes: PostgreSQL's
// default scram_iterations.
const SCRAMIterations = 4096

// SCRAMVerifier returns the SCRAM-SHA-256 verifier PostgreSQL stores for password (RFC 5802,
// RFC 7677), with a fresh 16-byte salt from crypto/rand and SCRAMIterations iterations:
//
//	SCRAM-SHA-256$4096:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
//
// Given to ALTER ROLE ... PASSWORD, PostgreSQL stores it as is, so the plaintext password never
// reaches the server, its logs or pg_stat_activity. The password must be ASCII (for which
// PostgreSQL's SASLprep changes nothing); the error never holds the password.
func SCRAMVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	rand.Read(salt)
	return scramVerifier(password, salt, SCRAMIterations)
}

func scramVerifier(password string, salt []byte, iterations int) (string, error) {
	v, err := scram.Verifier(password, salt, iterations)
	if err != nil {
		return "", fmt.Errorf("rotate: SCRAM verifier: %w", err)
	}
	return v, nil
}

// verifierShape matches a SCRAM-SHA-256 verifier: digits, base64 and the separators only, so
// nothing in it can end a SQL string literal.
var verifierShape = regexp.MustCompile(`^SCRAM-SHA-256\$[0-9]{1,10}:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$`)

// verifierLiteral returns v as a SQL string literal for ALTER ROLE ... PASSWORD, which takes
// no query parameters. It refuses anything that is not shaped like a verifier, so the splice
// cannot inject.
func verifierLiteral(v string) (string, error) {
	if !verifierShape.MatchString(v) {
		return "", errors.New("rotate: internal error: not a SCRAM-SHA-256 verifier")
	}
	return "'" + v + "'", nil
}
