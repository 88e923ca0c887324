package rotate

import (
	"errors"
	"regexp"
)

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
