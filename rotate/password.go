package rotate

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
)

// passwordPolicy says how the handler generates passwords (WithPasswordLength,
// WithExcludeCharacters, WithRandomPasswordAPI).
type passwordPolicy struct {
	length  int
	exclude string
	useAPI  bool
}

// The character classes of a generated password; each class the alphabet still has after the
// exclusions appears at least once, as GetRandomPassword's RequireEachIncludedType does.
var passwordClasses = []string{
	"abcdefghijklmnopqrstuvwxyz",
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
	"0123456789",
	"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
}

// alphabet returns the printable ASCII characters (no space) not in exclude.
func alphabet(exclude string) []byte {
	var out []byte
	for c := byte('!'); c <= '~'; c++ {
		if !strings.ContainsRune(exclude, rune(c)) {
			out = append(out, c)
		}
	}
	return out
}

// generate makes a password by the policy: with crypto/rand, or with GetRandomPassword when
// the policy says so.
func (p passwordPolicy) generate(ctx context.Context, api rotasafe.API) (string, error) {
	n, exclude := p.length, p.exclude
	if p.useAPI {
		out, err := api.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{
			PasswordLength:          aws.Int64(int64(n)),
			ExcludeCharacters:       aws.String(exclude),
			RequireEachIncludedType: aws.Bool(true),
			IncludeSpace:            aws.Bool(false),
		})
		if err != nil {
			return "", fmt.Errorf("GetRandomPassword: %w", err)
		}
		if out.RandomPassword == nil || len(*out.RandomPassword) != n {
			return "", errors.New("GetRandomPassword answered without a password of the requested length")
		}
		return *out.RandomPassword, nil
	}
	return randomPassword(n, alphabet(exclude))
}

// randomPassword returns n characters drawn uniformly from chars with crypto/rand, with at
// least one of each class chars holds something of (when n allows).
func randomPassword(n int, chars []byte) (string, error) {
	if len(chars) == 0 {
		return "", errors.New("no characters left to make a password of")
	}
	var need []string
	for _, cl := range passwordClasses {
		if strings.ContainsFunc(cl, func(r rune) bool { return containsByte(chars, byte(r)) }) {
			need = append(need, cl)
		}
	}
	if len(need) > n {
		need = nil
	}
	buf := make([]byte, n)
	for {
		for i := range buf {
			buf[i] = chars[uniform(len(chars))]
		}
		ok := true
		for _, cl := range need {
			if !strings.ContainsAny(string(buf), cl) {
				ok = false
				break
			}
		}
		if ok {
			return string(buf), nil
		}
	}
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// uniform returns a uniformly random int in [0, n), 0 < n <= 256, from crypto/rand, by
// rejection so that no value is more likely than another.
func uniform(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}
