package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rotasafe/rotasafe/rotate"
)

// fromEnv reads the strategy and its options from the environment (lookup is os.LookupEnv).
// The password options go to the strategy; a value out of range fails every step with an
// error that names it.
func fromEnv(lookup func(string) (string, bool)) (rotate.Strategy, error) {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	var opts []rotate.Option
	if v := get("PASSWORD_LENGTH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("PASSWORD_LENGTH %q is not a number", v)
		}
		opts = append(opts, rotate.WithPasswordLength(n))
	}
	if v, ok := lookup("EXCLUDE_CHARACTERS"); ok {
		opts = append(opts, rotate.WithExcludeCharacters(v))
	}
	switch v := strings.ToLower(get("USE_GET_RANDOM_PASSWORD")); v {
	case "", "false", "0", "no":
	case "true", "1", "yes":
		opts = append(opts, rotate.WithRandomPasswordAPI())
	default:
		return nil, fmt.Errorf("USE_GET_RANDOM_PASSWORD %q is not true or false", v)
	}
	if v := get("CLONE_SUFFIX"); v != "" {
		opts = append(opts, rotate.WithCloneSuffix(v))
	}
	if v := get("TLS_MODE"); v != "" {
		opts = append(opts, rotate.WithTLSMode(rotate.TLSMode(strings.ToLower(v))))
	}
	switch v := strings.ToUpper(get("ROTATION_STRATEGY")); v {
	case "", "SINGLE_USER":
		return rotate.MySQLSingleUser(opts...), nil
	case "SINGLE_USER_THROUGH_ADMIN":
		return rotate.MySQLSingleUser(append(opts, rotate.WithAdminSecret())...), nil
	case "ALTERNATING_USERS", "MULTI_USER":
		return rotate.MySQLAlternatingUsers(opts...), nil
	case "DUAL_PASSWORD":
		return rotate.MySQLDualPassword(opts...), nil
	default:
		return nil, fmt.Errorf("ROTATION_STRATEGY %q is not SINGLE_USER, SINGLE_USER_THROUGH_ADMIN, ALTERNATING_USERS or DUAL_PASSWORD", v)
	}
}
