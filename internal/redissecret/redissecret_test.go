package redissecret

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/rotasafe/rotasafe"
)

func TestTLSField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    bool
		wantErr string
	}{
		{`{}`, false, ""},
		{`{"tls":true}`, true, ""},
		{`{"tls":"true"}`, true, ""},
		{`{"ssl":true}`, true, ""},
		{`{"tls":false,"ssl":null}`, false, ""},
		{`{"tls":"yes-secret"}`, false, `field "tls" want true or false`},
		{`{"tls":1}`, false, `field "tls"`},
	}
	for _, tt := range tests {
		got, err := TLSField(tt.raw)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: got error %v, want %q", tt.raw, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("%s: got %v, %v; want %v", tt.raw, got, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "yes-secret"):
			t.Errorf("%s: the error quotes the value: %v", tt.raw, err)
		}
	}
}

func TestServerOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    rotasafe.DBSecret
		raw  string
		want Server
	}{
		{rotasafe.DBSecret{Host: "redis.internal"}, `{}`, Server{Addr: "redis.internal:6379", Host: "redis.internal"}},
		{rotasafe.DBSecret{Host: "10.0.0.7", Port: 6380}, `{"ssl":"true"}`, Server{Addr: "10.0.0.7:6380", Host: "10.0.0.7", TLS: true}},
		{rotasafe.DBSecret{Host: "::1", Port: 7000}, `{"tls":false}`, Server{Addr: "[::1]:7000", Host: "::1"}},
	}
	for _, tt := range tests {
		got, err := ServerOf(tt.s, tt.raw)
		if err != nil || got != tt.want {
			t.Errorf("ServerOf(%+v, %s) = %+v, %v; want %+v", tt.s, tt.raw, got, err, tt.want)
		}
	}
}

func TestTLSConfig(t *testing.T) {
	t.Parallel()
	srv := Server{Addr: "redis.internal:6379", Host: "redis.internal"}
	if cfg := TLSConfig(nil, srv); cfg != nil {
		t.Errorf("plain secret: got a TLS config, want none")
	}
	srv.TLS = true
	if cfg := TLSConfig(nil, srv); cfg == nil || cfg.ServerName != "redis.internal" || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("tls secret: got %+v, want TLS 1.2+ to redis.internal", cfg)
	}
	own := &tls.Config{ServerName: "other.name"}
	if cfg := TLSConfig(own, Server{Host: "redis.internal"}); cfg == nil || cfg == own || cfg.ServerName != "other.name" {
		t.Errorf("own config: got %+v, want a clone that keeps its ServerName", cfg)
	}
	if cfg := TLSConfig(&tls.Config{}, srv); cfg.ServerName != "redis.internal" {
		t.Errorf("own config without ServerName: got %q, want the secret's host", cfg.ServerName)
	}
}

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	// sha256("foobar"), the example of Redis's ACL documentation.
	const want = "#c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2"
	if got := PasswordHash("foobar"); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
