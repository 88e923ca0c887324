package redistest

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/redissecret"
	"github.com/rotasafe/rotasafe/internal/testserver"
)

func TestServer(t *testing.T) {
	t.Parallel()
	aclFile := filepath.Join(t.TempDir(), "users.acl")
	tests := []struct {
		name string
		opts func(t *testing.T) []Option
	}{
		{"plain", func(*testing.T) []Option { return nil }},
		{"tls", func(t *testing.T) []Option { return []Option{WithTLS(NewCerts(t))} }},
		{"aclfile", func(*testing.T) []Option { return []Option{WithACLFile(aclFile)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(t, tt.opts(t)...)
			if (s.TLS != nil) != (tt.name == "tls") {
				t.Errorf("TLS config %v, want one only for a TLS server", s.TLS)
			}
			if err := s.Admin(t).Ping(t.Context()).Err(); err != nil {
				t.Fatalf("the admin does not log in: %v", err)
			}
			if s.Accepts(t, "default", "") {
				t.Error("the default user logs in, want it disabled")
			}
			pw := Password(t)
			s.CreateUser(t, "app", pw)
			if !s.Accepts(t, "app", pw) || s.Accepts(t, "app", pw+"x") {
				t.Error("the new user's password: want exactly it accepted")
			}
			u := s.GetUser(t, "app")
			if want := []string{redissecret.PasswordHash(pw)[1:]}; !slices.Equal(u.Passwords, want) || !slices.Contains(u.Flags, "on") {
				t.Errorf("ACL GETUSER app: %+v, want the user on with the password's hash", u)
			}
			if u.Rest != s.RulesOf(t) {
				t.Errorf("rules %s, want those of AppRules", u.Rest)
			}
			if l := s.ACLList(t); !strings.Contains(l, "user app on") || strings.Contains(l, pw) {
				t.Errorf("ACL LIST: want the user, without its plaintext password")
			}
		})
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	e := NewEnv(t)
	id, user, pw := e.AppSecret()
	if !e.Server.Accepts(t, user, pw) {
		t.Fatal("the application user does not log in with its secret's password")
	}
	got, vid, ok := e.PasswordOf(id, rotasafe.StageCurrent)
	if !ok || got != pw || !e.Stages(id).Has(vid, rotasafe.StageCurrent) {
		t.Fatalf("AWSCURRENT: ok %v, version %s; want the password AppSecret returned", ok, vid)
	}
	if _, _, ok := e.PasswordOf(id, rotasafe.StagePending); ok {
		t.Error("AWSPENDING exists before any rotation")
	}
	admin, err := rotasafe.Fetch(t.Context(), e.API, e.MasterARN, "", rotasafe.StageCurrent)
	if err != nil {
		t.Fatal(err)
	}
	s, err := rotasafe.ParseDBSecret([]byte(admin.SecretString))
	if err != nil || s.Username != e.Server.AdminUser || redissecret.AddrOf(s) != e.Server.Addr {
		t.Errorf("the masterarn secret names %s at %s, want the admin at %s", s.Username, redissecret.AddrOf(s), e.Server.Addr)
	}
}

// skipRecorder is a testing.TB whose Skip and Fatal end New's goroutine and say which ran.
type skipRecorder struct {
	*testing.T
	verdict string
}

func (r *skipRecorder) Helper() {}
func (r *skipRecorder) Skip(args ...any) {
	r.verdict = "skip: " + fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *skipRecorder) Fatal(args ...any) {
	r.verdict = "fatal: " + fmt.Sprint(args...)
	runtime.Goexit()
}

// Without redis-server on PATH, New skips the test, or fails it under
// ROTASAFE_REQUIRE_INTEGRATION=1, saying what to install.
func TestNewWithoutBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, tt := range []struct{ require, want string }{{"", "skip: "}, {"1", "fatal: "}} {
		t.Setenv(testserver.EnvRequireIntegration, tt.require)
		r := &skipRecorder{T: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			New(r)
		}()
		<-done
		if !strings.HasPrefix(r.verdict, tt.want) || !strings.Contains(r.verdict, "apt-get install redis-server") {
			t.Errorf("%s=%q: got %q, want %q and what to install", testserver.EnvRequireIntegration, tt.require, r.verdict, tt.want)
		}
	}
}
