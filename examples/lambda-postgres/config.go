package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/rotate"
)

// handlerFromEnv builds the rotation handler from the environment (lookup is os.LookupEnv):
// the password options go to the handler, the connection options to the strategy. The
// constructors panic on a value they refuse, as on a programming error; here the value is
// input, so that panic comes back as an error naming the option and the value.
func handlerFromEnv(api rotasafe.API, lookup func(string) (string, bool), logger *slog.Logger) (h *rotate.Handler, err error) {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	opts := []rotate.Option{rotate.WithLogger(logger)}
	var dbOpts []rotate.DBOption
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
		dbOpts = append(dbOpts, rotate.WithCloneSuffix(v))
	}
	if v := get("TLS_MODE"); v != "" {
		dbOpts = append(dbOpts, rotate.WithTLSMode(rotate.TLSMode(strings.ToLower(v))))
	}
	defer func() {
		if r := recover(); r != nil {
			h, err = nil, fmt.Errorf("configuration: %v", r)
		}
	}()
	var strategy rotate.Strategy
	switch v := strings.ToUpper(get("ROTATION_STRATEGY")); v {
	case "", "SINGLE_USER":
		strategy = rotate.PostgresSingleUser(dbOpts...)
	case "SINGLE_USER_THROUGH_ADMIN":
		strategy = rotate.PostgresSingleUser(append(dbOpts, rotate.WithAdminSecret())...)
	case "ALTERNATING_USERS", "MULTI_USER":
		strategy = rotate.PostgresAlternatingUsers(dbOpts...)
	default:
		return nil, fmt.Errorf("ROTATION_STRATEGY %q is not SINGLE_USER, SINGLE_USER_THROUGH_ADMIN or ALTERNATING_USERS", v)
	}
	return rotate.NewHandler(api, strategy, opts...), nil
}
