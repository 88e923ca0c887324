package redistest

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/redissecret"
	"github.com/rotasafe/rotasafe/smtest"
)

// Env is a Redis server, a Secrets Manager (smtest) holding the secret of its admin user,
// and a client of it that does not retry, so an injected fault reaches the code under test.
type Env struct {
	TB        testing.TB
	Server    *Server
	SM        *smtest.Server
	API       *secretsmanager.Client
	MasterARN string // the admin's secret, for the masterarn field of application secrets
}

// NewEnv starts a server made with opts (see New) and a Secrets Manager for a test.
func NewEnv(tb testing.TB, opts ...Option) *Env {
	tb.Helper()
	rs := New(tb, opts...)
	sm := smtest.New(tb)
	e := &Env{TB: tb, Server: rs, SM: sm, API: sm.Client(func(o *secretsmanager.Options) { o.Retryer = aws.NopRetryer{} })}
	e.MasterARN = e.CreateSecret("redis-admin", rotasafe.DBSecret{Engine: "redis", Host: rs.Host, Port: rs.Port, Username: rs.AdminUser, Password: rs.AdminPassword})
	return e
}

// AppSecret creates a Redis user (see CreateUser) and its secret (with masterarn, "tls"
// saying whether the server speaks TLS, and a field no one models, "team"), and returns the
// secret's ARN, the user and its password.
func (e *Env) AppSecret() (arn, user, password string) {
	e.TB.Helper()
	user, password = UniqueName("app"), Password(e.TB)
	e.Server.CreateUser(e.TB, user, password)
	s := rotasafe.DBSecret{Engine: "redis", Host: e.Server.Host, Port: e.Server.Port, Username: user, Password: password, MasterARN: e.MasterARN}
	b, err := s.MarshalSecret()
	if err != nil {
		e.TB.Fatal(err)
	}
	raw := strings.TrimSuffix(string(b), "}") + fmt.Sprintf(`,"tls":%t,"team":"payments"}`, e.Server.TLS != nil)
	out, err := e.API.CreateSecret(e.TB.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(UniqueName("redis-app")), SecretString: aws.String(raw)})
	if err != nil {
		e.TB.Fatal(err)
	}
	return aws.ToString(out.ARN), user, password
}

// CreateSecret creates secret name holding s and returns its ARN.
func (e *Env) CreateSecret(name string, s rotasafe.DBSecret) string {
	e.TB.Helper()
	b, err := s.MarshalSecret()
	if err != nil {
		e.TB.Fatal(err)
	}
	out, err := e.API.CreateSecret(e.TB.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(string(b))})
	if err != nil {
		e.TB.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// PasswordOf returns the password of the version of secret id holding stage, and the
// version's ID; ok is false when no version holds it.
func (e *Env) PasswordOf(id, stage string) (pw, versionID string, ok bool) {
	e.TB.Helper()
	v, err := rotasafe.Fetch(context.WithoutCancel(e.TB.Context()), e.API, id, "", stage)
	if rotasafe.IsNotFound(err) {
		return "", "", false
	}
	if err != nil {
		e.TB.Fatal(err)
	}
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		e.TB.Fatal(err)
	}
	return s.Password, v.ID, true
}

// Stages reads the staging labels of secret id.
func (e *Env) Stages(id string) rotasafe.Stages {
	e.TB.Helper()
	l, err := rotasafe.DescribeStages(e.TB.Context(), e.API, id)
	if err != nil {
		e.TB.Fatal(err)
	}
	return l
}

// CheckACL asserts that user holds exactly the hashes of want, is still on with the rules
// CreateUser gave it, and that no password of all appears in ACL GETUSER or ACL LIST.
func (e *Env) CheckACL(user string, want, all []string) {
	t := e.TB
	t.Helper()
	u := e.Server.GetUser(t, user)
	var hashes []string
	for _, pw := range want {
		if h := redissecret.PasswordHash(pw)[1:]; !slices.Contains(hashes, h) {
			hashes = append(hashes, h)
		}
	}
	slices.Sort(hashes)
	if !slices.Equal(u.Passwords, hashes) {
		t.Errorf("ACL GETUSER %s: %d password hashes, want %d (AWSCURRENT's and AWSPENDING's)", user, len(u.Passwords), len(hashes))
	}
	if !slices.Contains(u.Flags, "on") {
		t.Errorf("ACL GETUSER %s: flags %v, want the user on", user, u.Flags)
	}
	if want := e.Server.RulesOf(t); u.Rest != want {
		t.Errorf("ACL GETUSER %s: rules changed: got %s, want %s", user, u.Rest, want)
	}
	list := e.Server.ACLList(t)
	for _, pw := range all {
		if strings.Contains(u.Raw, pw) || strings.Contains(list, pw) {
			t.Errorf("a plaintext password appears in ACL GETUSER or ACL LIST")
		}
	}
}

// CheckClean asserts the state every finished rotation of secret id leaves: no AWSPENDING
// apart from AWSCURRENT, AWSCURRENT's and AWSPREVIOUS's passwords (only those) log in as
// user, and the ACL holds their hashes only. older are passwords that must be rejected. It
// returns AWSCURRENT's password.
func (e *Env) CheckClean(id, user string, older []string) (cur string) {
	t := e.TB
	t.Helper()
	l := e.Stages(id)
	curID, _ := l.VersionOf(rotasafe.StageCurrent)
	if p, ok := l.VersionOf(rotasafe.StagePending); ok && p != curID {
		t.Fatalf("AWSPENDING left on version %s, AWSCURRENT is %s", p, curID)
	}
	cur, _, _ = e.PasswordOf(id, rotasafe.StageCurrent)
	prev, _, _ := e.PasswordOf(id, rotasafe.StagePrevious)
	if !e.Server.Accepts(t, user, cur) || !e.Server.Accepts(t, user, prev) {
		t.Fatalf("AWSCURRENT or AWSPREVIOUS does not log in")
	}
	for _, pw := range older {
		if pw != cur && pw != prev && e.Server.Accepts(t, user, pw) {
			t.Fatalf("an older password logs in")
		}
	}
	e.CheckACL(user, []string{prev, cur}, append(older, cur, prev))
	return cur
}

// NewTLSEnv starts an Env whose server speaks nothing but TLS, with a certificate of
// NewCerts, and returns it with a client TLS configuration whose roots trust that
// certificate (the system's roots do not).
func NewTLSEnv(tb testing.TB) (*Env, *tls.Config) {
	tb.Helper()
	certs := NewCerts(tb)
	return NewEnv(tb, WithTLS(certs)), &tls.Config{RootCAs: certs.Pool}
}

// CheckUntrusted fails tb unless err is a certificate verification error: what a client of a
// NewTLSEnv server gets with the system's roots when it did try TLS, and verified.
func CheckUntrusted(tb testing.TB, err error) {
	tb.Helper()
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		tb.Fatalf("got %v, want a certificate verification error", err)
	}
}
