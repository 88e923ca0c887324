package smtest

import (
	"context"
	"crypto/rand"
	"math/big"
	"strings"
)

// Character classes of GetRandomPassword. punctuation is Python's string.punctuation.
const (
	lowerChars  = "abcdefghijklmnopqrstuvwxyz"
	upperChars  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digitChars  = "0123456789"
	punctChars  = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	spaceChars  = " "
	maxPassword = 4096
)

func (s *Server) getRandomPassword(_ context.Context, req *request) (any, *apiError) {
	length := int64(32)
	if req.PasswordLength != nil {
		length = *req.PasswordLength
	}
	if length < 1 || length > maxPassword {
		return nil, errf(codeInvalidParam, "PasswordLength must be between 1 and %d.", maxPassword)
	}
	exclude := str(req.ExcludeCharacters)
	if len(exclude) > maxPassword {
		return nil, errf(codeValidation, "1 validation error detected: Value at 'excludeCharacters' failed to satisfy constraint: Member must have length less than or equal to %d", maxPassword)
	}
	var classes []string
	for _, c := range []struct {
		chars string
		on    bool
	}{
		{lowerChars, !boolv(req.ExcludeLowercase, false)},
		{upperChars, !boolv(req.ExcludeUppercase, false)},
		{digitChars, !boolv(req.ExcludeNumbers, false)},
		{punctChars, !boolv(req.ExcludePunctuation, false)},
		{spaceChars, boolv(req.IncludeSpace, false)},
	} {
		if !c.on {
			continue
		}
		kept := strings.Map(func(r rune) rune {
			if strings.ContainsRune(exclude, r) {
				return -1
			}
			return r
		}, c.chars)
		classes = append(classes, kept)
	}
	requireEach := boolv(req.RequireEachIncludedType, true)
	all := strings.Join(classes, "")
	if all == "" {
		return nil, errf(codeInvalidParam, "The password cannot be generated: every character is excluded.")
	}
	pw, err := randomPassword(int(length), classes, all, requireEach)
	if err != nil {
		return nil, err
	}
	return obj{"RandomPassword": pw}, nil
}

// randomPassword draws length characters from all with crypto/rand; with requireEach, at
// least one from each class, at random positions.
func randomPassword(length int, classes []string, all string, requireEach bool) (string, *apiError) {
	out := make([]byte, length)
	for i := range out {
		out[i] = all[randInt(len(all))]
	}
	if !requireEach {
		return string(out), nil
	}
	for _, c := range classes {
		if c == "" {
			return "", errf(codeInvalidParam, "The password cannot include every required character type: one type has every character excluded.")
		}
	}
	if length < len(classes) {
		return "", errf(codeInvalidParam, "Password length is too short based on the required types.")
	}
	// Put one character of each class at distinct random positions.
	pos := make([]int, length)
	for i := range pos {
		pos[i] = i
	}
	for i := len(pos) - 1; i > 0; i-- {
		j := randInt(i + 1)
		pos[i], pos[j] = pos[j], pos[i]
	}
	for k, c := range classes {
		out[pos[k]] = c[randInt(len(c))]
	}
	return string(out), nil
}

func randInt(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic("smtest: crypto/rand failed")
	}
	return int(v.Int64())
}
