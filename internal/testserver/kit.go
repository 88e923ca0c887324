package testserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Kit tells TestServer how to start one package's servers and log in to them.
type Kit[S Stoppable] struct {
	Start func(ctx context.Context) (S, error) // the package's Start
	// Login logs in to s as its admin with password and returns a check that the session
	// still answers, and a function that closes it.
	Login       func(ctx context.Context, s S, password string) (ping func(context.Context) error, close func(), err error)
	Password    func(s S) string     // the admin's password
	Dir         func(s S) string     // the server's directory, removed by Close
	Unreachable func(err error) bool // err, of Login, says the server is down, not that it refused
	Refused     func(err error) bool // err, of Login, says the server refused the password
	StartCmd    func(s S) string     // what an error of Start names: "pg_ctl start"
	ErrExternal error
	ErrClosed   error

	EnvURL string // the variable that names an external server instead: "ROTASAFE_PG_URL"
	// BadURLs are values of EnvURL that Start must refuse, by case name; each holds the
	// password "hunter2-secret", which the error must not.
	BadURLs    map[string]string
	BadSetting func(ctx context.Context) (S, error) // Start with a setting name that would smuggle in a second setting
	UniqueName func(prefix string) string
}

// TestServer checks what every server package that embeds Lifecycle promises: Stop, Start
// and Restart keep the port; a port taken while stopped fails Start with ErrPortTaken and the
// server's own words, and a later Start works; Close kills the server, removes its directory
// and is idempotent; two servers started at once get their own ports and passwords; no
// printing of a server shows its admin password; a bad setting name, a bad external URL
// (without repeating its password) are refused; UniqueName names do not repeat. Each check is
// a subtest; on an external server those that stop it are skipped.
func TestServer[S Stoppable](t *testing.T, k Kit[S]) {
	start := func(t *testing.T) S {
		t.Helper()
		return New(t, k.Start)
	}
	login := func(t *testing.T, s S, password string) func(context.Context) error {
		t.Helper()
		ping, closeFn, err := k.Login(t.Context(), s, password)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		t.Cleanup(closeFn)
		return ping
	}
	owned := func(t *testing.T, s S) {
		t.Helper()
		if s.External() {
			if err := s.Stop(t.Context()); !errors.Is(err, k.ErrExternal) {
				t.Fatalf("Stop on external server: got %v, want ErrExternal", err)
			}
			t.Skip("external server: cannot stop it")
		}
	}

	t.Run("StopStartRestart", func(t *testing.T) {
		t.Parallel()
		s := start(t)
		owned(t, s)
		ctx, port := t.Context(), s.Port()
		held := login(t, s, k.Password(s))
		for i := range 2 { // a second Stop does nothing
			if err := s.Stop(ctx); err != nil {
				t.Fatalf("Stop %d: %v", i+1, err)
			}
		}
		if _, _, err := k.Login(ctx, s, k.Password(s)); !k.Unreachable(err) {
			t.Fatalf("login to stopped server: got %v, want a connection error without the server's answer", err)
		}
		if err := held(ctx); err == nil {
			t.Error("session held across Stop still answers")
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if s.Port() != port {
			t.Errorf("got port %d after Start, want %d", s.Port(), port)
		}
		login(t, s, k.Password(s))
		if err := s.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		login(t, s, k.Password(s))
	})

	t.Run("StartPortTaken", func(t *testing.T) {
		t.Parallel()
		s := start(t)
		owned(t, s)
		if err := s.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port())))
		if err != nil {
			t.Skipf("port %d taken by someone else meanwhile: %v", s.Port(), err)
		}
		err = s.Start(t.Context())
		l.Close()
		if !errors.Is(err, ErrPortTaken) {
			t.Fatalf("got %v, want ErrPortTaken", err)
		}
		if msg := err.Error(); !strings.Contains(msg, k.StartCmd(s)) || !strings.Contains(msg, "Address already in use") {
			t.Errorf("error %q names neither the command nor the server's complaint", msg)
		}
		if err := s.Start(t.Context()); err != nil {
			t.Fatalf("Start once the port is free: %v", err)
		}
	})

	t.Run("CloseRemovesDirectory", func(t *testing.T) {
		t.Parallel()
		s, err := k.Start(t.Context())
		SkipOrFail(t, err)
		if s.External() {
			s.Close()
			t.Skip("external server: no directory")
		}
		dir := k.Dir(s)
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("server directory: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Close, stat %s: got %v, want not exist", dir, err)
		}
		if _, closeFn, err := k.Login(t.Context(), s, k.Password(s)); err == nil {
			closeFn()
			t.Error("server still accepts logins after Close")
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: got %v, want nil", err)
		}
		if err := s.Start(t.Context()); !errors.Is(err, k.ErrClosed) {
			t.Errorf("Start after Close: got %v, want ErrClosed", err)
		}
	})

	t.Run("TwoServersDifferentPorts", func(t *testing.T) {
		t.Parallel()
		// Started at the same time, as parallel tests do. Start, not New: New may call
		// t.Fatal, which only the test's goroutine may call.
		var (
			wg      sync.WaitGroup
			servers [2]S
			errs    [2]error
		)
		for i := range servers {
			wg.Go(func() { servers[i], errs[i] = k.Start(t.Context()) })
		}
		wg.Wait()
		for i, s := range servers {
			if errs[i] == nil {
				t.Cleanup(func() {
					if err := s.Close(); err != nil {
						t.Error(err)
					}
				})
			}
		}
		for _, err := range errs {
			SkipOrFail(t, err)
		}
		a, b := servers[0], servers[1]
		if a.External() {
			t.Skip("external server: servers share it")
		}
		if a.Port() == b.Port() || k.Dir(a) == k.Dir(b) {
			t.Fatalf("both servers on port %d / in %s", a.Port(), k.Dir(a))
		}
		if k.Password(a) == k.Password(b) {
			t.Error("both servers have the same admin password")
		}
		for _, s := range servers {
			login(t, s, k.Password(s))
		}
		// Each server's password is its own.
		if _, _, err := k.Login(t.Context(), a, k.Password(b)); !k.Refused(err) {
			t.Errorf("server a with b's password: got %v, want the server's refusal", err)
		}
	})
	t.Run("PrintsNoPassword", func(t *testing.T) {
		t.Parallel()
		s := start(t)
		pw := k.Password(s)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			for _, arg := range []any{s, []any{s}, map[string]S{"s": s}, struct{ S S }{s}} {
				if out := fmt.Sprintf(verb, arg); strings.Contains(out, pw) {
					t.Errorf("Sprintf(%s, %T) = %q holds the admin password", verb, arg, out)
				}
			}
		}
		if got := fmt.Sprint(s); !strings.Contains(got, strconv.Itoa(s.Port())) {
			t.Errorf("got %q, want the server's address", got)
		}
	})

	t.Run("StartRejectsBadSettingName", func(t *testing.T) {
		if os.Getenv(k.EnvURL) != "" {
			t.Skip("external server: settings not applied")
		}
		s, err := k.BadSetting(t.Context())
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "invalid setting name") {
			t.Fatalf("got %v, want an invalid setting name error", err)
		}
	})

	t.Run("UniqueName", func(t *testing.T) {
		seen := make(map[string]bool)
		for range 1000 {
			n := k.UniqueName("u")
			if len(n) != len("u_")+12 || n != strings.ToLower(n) {
				t.Fatalf("got %q, want u_ and 12 lowercase hex digits", n)
			}
			if seen[n] {
				t.Fatalf("UniqueName repeated %q", n)
			}
			seen[n] = true
		}
	})

	t.Run("ExternalServerBadURL", func(t *testing.T) { // not parallel: Setenv
		for name, url := range k.BadURLs {
			t.Run(name, func(t *testing.T) {
				t.Setenv(k.EnvURL, url)
				s, err := k.Start(t.Context())
				if err == nil {
					s.Close()
					t.Fatal("got nil error")
				}
				if strings.Contains(err.Error(), "hunter2-secret") {
					t.Errorf("error %q holds the password", err)
				}
			})
		}
	})
}
