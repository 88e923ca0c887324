package main

import (
	"strings"
	"testing"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"alternating", map[string]string{"ROTATION_STRATEGY": "alternating_users", "CLONE_SUFFIX": "_b"}, ""},
		{"through admin", map[string]string{"ROTATION_STRATEGY": "SINGLE_USER_THROUGH_ADMIN"}, ""},
		{"dual password", map[string]string{"ROTATION_STRATEGY": "DUAL_PASSWORD"}, ""},
		{"clone suffix for dual password", map[string]string{"ROTATION_STRATEGY": "DUAL_PASSWORD", "CLONE_SUFFIX": "_b"}, "WithCloneSuffix"},
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
		t.Run(tt.name, func(t *testing.T) {
			h, err := handlerFromEnv(nil, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }, nil)
			switch {
			case tt.wantErr == "" && (err != nil || h == nil):
				t.Fatalf("got %v, want a handler", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}
