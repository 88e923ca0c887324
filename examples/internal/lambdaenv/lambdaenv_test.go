package lambdaenv

import (
	"strings"
	"testing"

	"github.com/rotasafe/rotasafe/rotate"
)

// check builds the handler for env with strategies and fails t unless the result is what
// wantErr says: a handler when "", else an error naming wantErr. The examples' tests use it
// for their own strategies.
func check(t *testing.T, strategies map[string]Strategy, env map[string]string, wantErr string) {
	t.Helper()
	h, err := Handler(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, strategies)
	switch {
	case wantErr == "" && (err != nil || h == nil):
		t.Fatalf("got %v, want a handler", err)
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Fatalf("got %v, want an error naming %s", err, wantErr)
	}
}

func TestHandler(t *testing.T) {
	strategies := map[string]Strategy{"SINGLE_USER": rotate.PostgresSingleUser, "ALTERNATING_USERS": rotate.PostgresAlternatingUsers}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"alternating", map[string]string{"ROTATION_STRATEGY": "alternating_users", "CLONE_SUFFIX": "_b"}, ""},
		{"multi user is alternating", map[string]string{"ROTATION_STRATEGY": "MULTI_USER"}, ""},
		{"through admin", map[string]string{"ROTATION_STRATEGY": "SINGLE_USER_THROUGH_ADMIN"}, ""},
		{"password knobs", map[string]string{"PASSWORD_LENGTH": "40", "EXCLUDE_CHARACTERS": "", "USE_GET_RANDOM_PASSWORD": "true"}, ""},
		{"tls", map[string]string{"TLS_MODE": "verify-full"}, ""},
		{"unknown strategy", map[string]string{"ROTATION_STRATEGY": "DOUBLE"}, "ROTATION_STRATEGY"},
		{"length not a number", map[string]string{"PASSWORD_LENGTH": "long"}, "PASSWORD_LENGTH"},
		{"bad boolean", map[string]string{"USE_GET_RANDOM_PASSWORD": "maybe"}, "USE_GET_RANDOM_PASSWORD"},
		{"length out of range", map[string]string{"PASSWORD_LENGTH": "4"}, "WithPasswordLength(4)"},
		{"unknown TLS mode", map[string]string{"TLS_MODE": "sometimes"}, `WithTLSMode("sometimes")`},
		{"clone suffix for one user", map[string]string{"CLONE_SUFFIX": "_b"}, "WithCloneSuffix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, strategies, tt.env, tt.wantErr) })
	}
}
