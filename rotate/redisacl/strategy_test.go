//lint:file-ignore SA1019 rotate.Rotate, deprecated for Handler.Rotate, stays callable; these callers drive one Handler through the API of their test server.

package redisacl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/redistest"
	"github.com/rotasafe/rotasafe/rotate"
)

// TestKeepsRulesAndFields checks what the kit (TestStrategyPassesTheKit) does not: a rotation
// leaves the user's ACL rules and the secret's fields the strategy does not model as they
// were, and ACL GETUSER and ACL LIST hold no plaintext password.
func TestKeepsRulesAndFields(t *testing.T) {
	t.Parallel()
	e := redistest.NewEnv(t)
	id, user, pw0 := e.AppSecret()
	if _, err := rotate.Rotate(t.Context(), e.API, id, rotate.NewHandler(e.API, Strategy())); err != nil {
		t.Fatal(err)
	}
	cur, _, _ := e.PasswordOf(id, rotasafe.StageCurrent)
	e.CheckACL(user, []string{pw0, cur}, []string{pw0, cur})
	v, err := rotasafe.Fetch(t.Context(), e.API, id, "", rotasafe.StageCurrent)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"team":"payments"`, `"tls":false`, `"masterarn":`, `"engine":"redis"`} {
		if !strings.Contains(v.SecretString, field) {
			t.Errorf("AWSCURRENT lost %s", field)
		}
	}
}

func TestInterruptedByRedisRerunsClean(t *testing.T) {
	t.Parallel()
	e := redistest.NewEnv(t)
	id, user, pw0 := e.AppSecret()
	clean := rotate.NewHandler(e.API, Strategy())
	if _, err := rotate.Rotate(t.Context(), e.API, id, clean); err != nil {
		t.Fatal(err)
	}
	older := []string{pw0}
	for k := 1; ; k++ {
		hook := &failingHook{k: k}
		h := rotate.NewHandler(e.API, Strategy(withHook(hook)))
		_, err := rotate.Rotate(t.Context(), e.API, id, h)
		if err == nil {
			if hook.count() >= k {
				t.Fatalf("redis operation %d failed but the rotation succeeded", k)
			}
			e.CheckClean(id, user, older)
			t.Logf("a rotation makes %d Redis operations; interrupted at each", hook.count())
			break
		}
		if !errors.Is(err, errInjected) {
			t.Fatalf("redis operation %d failed: got %v, want the injected failure", k, err)
		}
		if _, err := rotate.Rotate(t.Context(), e.API, id, clean); err != nil {
			t.Fatalf("rerun after redis operation %d failed: %v", k, err)
		}
		older = append(older, e.CheckClean(id, user, older))
		if k > 100 {
			t.Fatal("the rotation never got past the injected failures")
		}
	}
}

func TestSetRefuses(t *testing.T) {
	t.Parallel()
	e := redistest.NewEnv(t)
	tests := []struct {
		name  string
		setup func(id, user, pw string) // breaks something before the rotation
		want  string
	}{
		{
			name:  "current password rejected",
			setup: func(id, user, pw string) { e.Server.CreateUser(e.TB, user, "someone else's password") },
			want:  "AWSCURRENT credential of user " + "%USER%" + " is rejected",
		},
		{
			name: "user deleted",
			setup: func(id, user, pw string) {
				if err := e.Server.Admin(e.TB).Do(e.TB.Context(), "ACL", "DELUSER", user).Err(); err != nil {
					e.TB.Fatal(err)
				}
			},
			want: "is rejected",
		},
		{
			name: "admin may not run ACL",
			setup: func(id, user, pw string) {
				if err := e.Server.Admin(e.TB).Do(e.TB.Context(), "ACL", "SETUSER", "weak", "reset", "on", PasswordHash("weak-password"), "+ping").Err(); err != nil {
					e.TB.Fatal(err)
				}
				weak := e.CreateSecret(redistest.UniqueName("weak"), rotasafe.DBSecret{Host: e.Server.Host, Port: e.Server.Port, Username: "weak", Password: "weak-password"})
				setMaster(e, id, weak)
			},
			want: "NOPERM",
		},
		{
			name: "admin on another server",
			setup: func(id, user, pw string) {
				other := e.CreateSecret(redistest.UniqueName("other"), rotasafe.DBSecret{Host: "10.0.0.1", Username: "a", Password: "b"})
				setMaster(e, id, other)
			},
			want: "the masterarn secret names server 10.0.0.1:6379",
		},
		{
			name:  "no masterarn",
			setup: func(id, user, pw string) { setMaster(e, id, "") },
			want:  `field "masterarn" is missing`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, user, pw := e.AppSecret()
			tt.setup(id, user, pw)
			_, err := rotate.Rotate(t.Context(), e.API, id, rotate.NewHandler(e.API, Strategy()))
			if err == nil {
				t.Fatal("got no error")
			}
			want := strings.ReplaceAll(tt.want, "%USER%", user)
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), rotasafe.StepSetSecret) {
				t.Errorf("got %v, want a setSecret error with %q", err, want)
			}
			pend, _, _ := e.PasswordOf(id, rotasafe.StagePending)
			for _, secret := range []string{pw, pend, e.Server.AdminPassword, PasswordHash(pw)[1:], PasswordHash(pend)[1:]} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error holds a password or its hash: %v", err)
				}
			}
		})
	}
}

// setMaster rewrites AWSCURRENT of id with masterarn set to arn.
func setMaster(e *redistest.Env, id, arn string) {
	e.TB.Helper()
	v, err := rotasafe.Fetch(e.TB.Context(), e.API, id, "", rotasafe.StageCurrent)
	if err != nil {
		e.TB.Fatal(err)
	}
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		e.TB.Fatal(err)
	}
	s.MasterARN = arn
	b, _ := s.MarshalSecret()
	if _, err := e.API.PutSecretValue(e.TB.Context(), putCurrent(id, string(b))); err != nil {
		e.TB.Fatal(err)
	}
}

func TestRedactHashes(t *testing.T) {
	t.Parallel()
	h := PasswordHash("hunter2")
	tests := []struct {
		name, in, want string
	}{
		{"modifier quoted", "ERR Error in ACL SETUSER modifier '" + h + "': Syntax error", "ERR Error in ACL SETUSER modifier '#<hash>': Syntax error"},
		{"bare hex", "ERR bad " + h[1:], "ERR bad #<hash>"},
		{"nothing to hide", "NOPERM this user has no permissions to run the 'acl|setuser' command", "NOPERM this user has no permissions to run the 'acl|setuser' command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := redact(errors.New(tt.in)).Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestInvalidOption(t *testing.T) {
	t.Parallel()
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "WithTimeout(-1s)") {
			t.Errorf("got panic %v, want one naming WithTimeout and the value", r)
		}
	}()
	Strategy(WithTimeout(-time.Second))
}

// The Lambda path: Secrets Manager's RotateSecret calls Handler.Handle for each step, with
// rotation enabled, as in AWS.
func TestRotateSecretThroughHandler(t *testing.T) {
	t.Parallel()
	e := redistest.NewEnv(t)
	id, user, pw0 := e.AppSecret()
	const fn = "arn:aws:lambda:us-east-1:123456789012:function:redis-rotation"
	e.SM.RegisterRotationFunc(fn, rotate.NewHandler(e.SM.Client(), Strategy()).Handle)
	_, err := e.API.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(id),
		RotationLambdaARN: aws.String(fn),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	})
	if err != nil {
		t.Fatal(err)
	}
	older := []string{pw0}
	older = append(older, e.CheckClean(id, user, older))
	for range 2 {
		if _, err := e.SM.TriggerRotation(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		older = append(older, e.CheckClean(id, user, older))
	}
	if len(older) != 4 || older[3] == older[2] {
		t.Fatalf("got %d distinct passwords, want 4", len(older))
	}
}

// WithACLSave writes the change to the server's ACL file, hashes only, so that a restart
// keeps it.
func TestACLSave(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "users.acl")
	e := redistest.NewEnv(t, redistest.WithACLFile(file))
	id, user, pw0 := e.AppSecret()
	if _, err := rotate.Rotate(t.Context(), e.API, id, rotate.NewHandler(e.API, Strategy(WithACLSave()))); err != nil {
		t.Fatal(err)
	}
	cur, _, _ := e.PasswordOf(id, rotasafe.StageCurrent)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for l := range strings.Lines(string(b)) {
		if strings.HasPrefix(l, "user "+user+" ") {
			line = l
		}
	}
	for _, pw := range []string{pw0, cur} {
		if !strings.Contains(line, PasswordHash(pw)) {
			t.Errorf("the ACL file's line for %s lacks a password hash", user)
		}
		if strings.Contains(string(b), pw) {
			t.Errorf("the ACL file holds a plaintext password")
		}
	}
}
