package redisacl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/rotate"
)

// observer wraps a strategy, runs each step twice (Secrets Manager retries steps) and
// checks, after setSecret and testSecret, that exactly the AWSCURRENT and AWSPENDING
// passwords log in.
type observer struct {
	rotate.Strategy
	e    *env
	user string
	old  []string // passwords that must no longer log in
	sets int
}

func (o *observer) Set(ctx context.Context, sc *rotate.StepContext) error {
	for range 2 {
		if err := o.Strategy.Set(ctx, sc); err != nil {
			return err
		}
	}
	o.sets++
	o.check(sc, "setSecret")
	return nil
}

func (o *observer) Test(ctx context.Context, sc *rotate.StepContext) error {
	if err := o.Strategy.Test(ctx, sc); err != nil {
		return err
	}
	o.check(sc, "testSecret")
	return nil
}

func (o *observer) check(sc *rotate.StepContext, step string) {
	t := o.e.t
	t.Helper()
	cur, _ := rotasafe.ParseDBSecret([]byte(sc.Current.SecretString))
	pend, _ := rotasafe.ParseDBSecret([]byte(sc.Pending.SecretString))
	for _, c := range []struct {
		stage, pw string
	}{{"AWSCURRENT", cur.Password}, {"AWSPENDING", pend.Password}} {
		if !o.e.rs.accepts(t, o.user, c.pw) {
			t.Errorf("after %s: the %s password is rejected, want it accepted", step, c.stage)
		}
	}
	for i, pw := range o.old {
		if pw != cur.Password && o.e.rs.accepts(t, o.user, pw) {
			t.Errorf("after %s: password #%d (older than AWSCURRENT) is accepted, want it rejected", step, i)
		}
	}
	o.e.checkACL(o.user, []string{cur.Password, pend.Password}, append(o.old, cur.Password, pend.Password))
}

// checkACL asserts that user holds exactly the hashes of want, is still on with its rules,
// and that no password of all appears in ACL GETUSER or ACL LIST.
func (e *env) checkACL(user string, want, all []string) {
	t := e.t
	t.Helper()
	u := e.rs.getUser(t, user)
	var hashes []string
	for _, pw := range want {
		if h := PasswordHash(pw)[1:]; !slices.Contains(hashes, h) {
			hashes = append(hashes, h)
		}
	}
	slices.Sort(hashes)
	if !slices.Equal(u.passwords, hashes) {
		t.Errorf("ACL GETUSER %s: %d password hashes, want %d (AWSCURRENT's and AWSPENDING's)", user, len(u.passwords), len(hashes))
	}
	if !slices.Contains(u.flags, "on") {
		t.Errorf("ACL GETUSER %s: flags %v, want the user on", user, u.flags)
	}
	if want := e.rs.rulesOf(t); u.rest != want {
		t.Errorf("ACL GETUSER %s: rules changed: got %s, want %s", user, u.rest, want)
	}
	list := e.rs.aclList(t)
	for _, pw := range all {
		if strings.Contains(u.raw, pw) || strings.Contains(list, pw) {
			t.Errorf("a plaintext password appears in ACL GETUSER or ACL LIST")
		}
	}
}

// rulesOf returns the rules (keys, channels, commands) a user made with appRules has.
func (s *redisServer) rulesOf(t testing.TB) string {
	t.Helper()
	name := "reference"
	s.user(t, name, "reference-password")
	return s.getUser(t, name).rest
}

func TestRotateKeepsCurrentAndPendingValid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, user, pw0 := e.appSecret()
	obs := &observer{Strategy: Strategy(), e: e, user: user}
	h := rotate.NewHandler(e.api, obs)

	passwords := []string{pw0}
	for i := 1; i <= 3; i++ {
		obs.old = slices.Clone(passwords[:len(passwords)-1])
		token, err := rotate.Rotate(t.Context(), e.api, id, h)
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
		cur, curID, _ := e.password(id, rotasafe.StageCurrent)
		if curID != token {
			t.Fatalf("rotation %d: AWSCURRENT is %s, want the rotation's token %s", i, curID, token)
		}
		prev, _, _ := e.password(id, rotasafe.StagePrevious)
		if prev != passwords[len(passwords)-1] {
			t.Fatalf("rotation %d: AWSPREVIOUS is not the password AWSCURRENT had", i)
		}
		if slices.Contains(passwords, cur) {
			t.Fatalf("rotation %d: AWSCURRENT has an old password", i)
		}
		passwords = append(passwords, cur)

		// After finishSecret the old AWSCURRENT (now AWSPREVIOUS) keeps working until the
		// next rotation's setSecret; anything older does not.
		for j, pw := range passwords {
			got, want := e.rs.accepts(t, user, pw), j >= len(passwords)-2
			if got != want {
				t.Errorf("rotation %d: password of rotation %d: accepted %v, want %v", i, j, got, want)
			}
		}
		e.checkACL(user, passwords[len(passwords)-2:], passwords)
		if _, ok := e.labels(id).VersionOf(rotasafe.StagePending); ok {
			if l := e.labels(id); !l.Has(curID, rotasafe.StagePending) {
				t.Errorf("rotation %d: AWSPENDING left on another version than AWSCURRENT", i)
			}
		}
	}
	if obs.sets != 3 {
		t.Errorf("setSecret ran %d times, want 3", obs.sets)
	}

	// The secret keeps the fields the strategy does not model.
	v, err := rotasafe.Fetch(t.Context(), e.api, id, "", rotasafe.StageCurrent)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"team":"payments"`, `"tls":false`, `"masterarn":`, `"engine":"redis"`} {
		if !strings.Contains(v.SecretString, field) {
			t.Errorf("AWSCURRENT lost %s", field)
		}
	}
}

// checkClean asserts the state every finished rotation leaves: no AWSPENDING apart from
// AWSCURRENT, AWSCURRENT's and AWSPREVIOUS's passwords (only those) log in, and the ACL
// holds their hashes only. older are passwords that must be rejected.
func (e *env) checkClean(id, user string, older []string) (cur string) {
	t := e.t
	t.Helper()
	l := e.labels(id)
	curID, _ := l.VersionOf(rotasafe.StageCurrent)
	if p, ok := l.VersionOf(rotasafe.StagePending); ok && p != curID {
		t.Fatalf("AWSPENDING left on version %s, AWSCURRENT is %s", p, curID)
	}
	cur, _, _ = e.password(id, rotasafe.StageCurrent)
	prev, _, _ := e.password(id, rotasafe.StagePrevious)
	if !e.rs.accepts(t, user, cur) || !e.rs.accepts(t, user, prev) {
		t.Fatalf("AWSCURRENT or AWSPREVIOUS does not log in")
	}
	for _, pw := range older {
		if pw != cur && pw != prev && e.rs.accepts(t, user, pw) {
			t.Fatalf("an older password logs in")
		}
	}
	e.checkACL(user, []string{prev, cur}, append(older, cur, prev))
	return cur
}

func TestInterruptedBySecretsManagerRerunsClean(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, user, pw0 := e.appSecret()
	h := rotate.NewHandler(e.api, Strategy())
	if _, err := rotate.Rotate(t.Context(), e.api, id, h); err != nil { // so AWSPREVIOUS exists
		t.Fatal(err)
	}
	older := []string{pw0}
	for k := 1; ; k++ {
		before := e.sm.TotalCalls()
		e.sm.FailAt(k, "InternalServiceError")
		_, err := rotate.Rotate(t.Context(), e.api, id, h)
		calls := e.sm.TotalCalls() - before
		e.sm.ClearFaults()
		if err == nil && calls >= k {
			// Only the last call may fail unnoticed: taking AWSPENDING off the new
			// AWSCURRENT, which leaves a valid end state.
			if k != calls {
				t.Fatalf("call %d of %d failed but the rotation succeeded", k, calls)
			}
			older = append(older, e.checkClean(id, user, older))
			continue
		}
		if err == nil {
			e.checkClean(id, user, older)
			t.Logf("a rotation makes %d Secrets Manager calls; interrupted at each", calls)
			break
		}
		if !strings.Contains(err.Error(), "InternalServiceError") {
			t.Fatalf("call %d failed: got %v, want the injected InternalServiceError", k, err)
		}
		if _, err := rotate.Rotate(t.Context(), e.api, id, h); err != nil {
			t.Fatalf("rerun after call %d failed: %v", k, err)
		}
		older = append(older, e.checkClean(id, user, older))
		if k > 100 {
			t.Fatal("the rotation never got past the injected failures")
		}
	}
}

func TestInterruptedByRedisRerunsClean(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, user, pw0 := e.appSecret()
	clean := rotate.NewHandler(e.api, Strategy())
	if _, err := rotate.Rotate(t.Context(), e.api, id, clean); err != nil {
		t.Fatal(err)
	}
	older := []string{pw0}
	for k := 1; ; k++ {
		hook := &failingHook{k: k}
		h := rotate.NewHandler(e.api, Strategy(withHook(hook)))
		_, err := rotate.Rotate(t.Context(), e.api, id, h)
		if err == nil {
			if hook.count() >= k {
				t.Fatalf("redis operation %d failed but the rotation succeeded", k)
			}
			e.checkClean(id, user, older)
			t.Logf("a rotation makes %d Redis operations; interrupted at each", hook.count())
			break
		}
		if !errors.Is(err, errInjected) {
			t.Fatalf("redis operation %d failed: got %v, want the injected failure", k, err)
		}
		if _, err := rotate.Rotate(t.Context(), e.api, id, clean); err != nil {
			t.Fatalf("rerun after redis operation %d failed: %v", k, err)
		}
		older = append(older, e.checkClean(id, user, older))
		if k > 100 {
			t.Fatal("the rotation never got past the injected failures")
		}
	}
}

func TestSetRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name  string
		setup func(id, user, pw string) // breaks something before the rotation
		want  string
	}{
		{
			name:  "current password rejected",
			setup: func(id, user, pw string) { e.rs.user(e.t, user, "someone else's password") },
			want:  "AWSCURRENT password of user " + "%USER%" + " is rejected",
		},
		{
			name: "user deleted",
			setup: func(id, user, pw string) {
				if err := e.rs.admin(e.t).Do(e.t.Context(), "ACL", "DELUSER", user).Err(); err != nil {
					e.t.Fatal(err)
				}
			},
			want: "is rejected",
		},
		{
			name: "admin may not run ACL",
			setup: func(id, user, pw string) {
				if err := e.rs.admin(e.t).Do(e.t.Context(), "ACL", "SETUSER", "weak", "reset", "on", PasswordHash("weak-password"), "+ping").Err(); err != nil {
					e.t.Fatal(err)
				}
				weak := e.createSecret(uniqueName("weak"), rotasafe.DBSecret{Host: e.rs.host, Port: e.rs.port, Username: "weak", Password: "weak-password"})
				e.setMaster(id, weak)
			},
			want: "NOPERM",
		},
		{
			name: "admin on another server",
			setup: func(id, user, pw string) {
				other := e.createSecret(uniqueName("other"), rotasafe.DBSecret{Host: "10.0.0.1", Username: "a", Password: "b"})
				e.setMaster(id, other)
			},
			want: "the masterarn secret names server 10.0.0.1:6379",
		},
		{
			name:  "no masterarn",
			setup: func(id, user, pw string) { e.setMaster(id, "") },
			want:  `field "masterarn" is missing`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, user, pw := e.appSecret()
			tt.setup(id, user, pw)
			_, err := rotate.Rotate(t.Context(), e.api, id, rotate.NewHandler(e.api, Strategy()))
			if err == nil {
				t.Fatal("got no error")
			}
			want := strings.ReplaceAll(tt.want, "%USER%", user)
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), rotasafe.StepSetSecret) {
				t.Errorf("got %v, want a setSecret error with %q", err, want)
			}
			pend, _, _ := e.password(id, rotasafe.StagePending)
			for _, secret := range []string{pw, pend, e.rs.adminPass, PasswordHash(pw)[1:], PasswordHash(pend)[1:]} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error holds a password or its hash: %v", err)
				}
			}
		})
	}
}

// setMaster rewrites AWSCURRENT of id with masterarn set to arn.
func (e *env) setMaster(id, arn string) {
	e.t.Helper()
	v, err := rotasafe.Fetch(e.t.Context(), e.api, id, "", rotasafe.StageCurrent)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		e.t.Fatal(err)
	}
	s.MasterARN = arn
	b, _ := s.MarshalSecret()
	if _, err := e.api.PutSecretValue(e.t.Context(), putCurrent(id, string(b))); err != nil {
		e.t.Fatal(err)
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

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	// sha256("foobar"), the example of Redis's ACL documentation.
	const want = "#c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2"
	if got := PasswordHash("foobar"); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestInvalidOption(t *testing.T) {
	t.Parallel()
	s := Strategy(WithTimeout(-time.Second))
	_, err := s.Create(t.Context(), &rotate.StepContext{})
	if err == nil || !strings.Contains(err.Error(), "negative timeout") {
		t.Errorf("got %v, want an error naming the timeout", err)
	}
}

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
		got, err := tlsField(tt.raw)
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

// The Lambda path: Secrets Manager's RotateSecret calls Handler.Handle for each step, with
// rotation enabled, as in AWS.
func TestRotateSecretThroughHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, user, pw0 := e.appSecret()
	const fn = "arn:aws:lambda:us-east-1:123456789012:function:redis-rotation"
	e.sm.RegisterRotationFunc(fn, rotate.NewHandler(e.sm.Client(), Strategy()).Handle)
	_, err := e.api.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(id),
		RotationLambdaARN: aws.String(fn),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	})
	if err != nil {
		t.Fatal(err)
	}
	older := []string{pw0}
	older = append(older, e.checkClean(id, user, older))
	for range 2 {
		if _, err := e.sm.TriggerRotation(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		older = append(older, e.checkClean(id, user, older))
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
	e := newEnvWith(t, serverOpts{aclFile: file})
	id, user, pw0 := e.appSecret()
	if _, err := rotate.Rotate(t.Context(), e.api, id, rotate.NewHandler(e.api, Strategy(WithACLSave()))); err != nil {
		t.Fatal(err)
	}
	cur, _, _ := e.password(id, rotasafe.StageCurrent)
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
