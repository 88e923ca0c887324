package floor_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/scram"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/smtest"
	"github.com/rotasafe/rotasafe/tests/floor"
)

var noTLS = map[string]string{"sslmode": "disable"}

// store creates a secret holding s and returns its name.
func store(t *testing.T, client *secretsmanager.Client, s rotasafe.DBSecret) string {
	t.Helper()
	js, err := s.MarshalSecret()
	if err != nil {
		t.Fatal(err)
	}
	id := pgtest.UniqueName("floor/db")
	if _, err := client.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String(string(js))}); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPostgres(t *testing.T) {
	pg := pgtest.New(t)
	sm := smtest.New(t)
	client := sm.Client()
	user, pw := pgtest.UniqueName("floor"), pgtest.UniqueName("pw")
	if err := pg.CreateRole(t.Context(), user, pw); err != nil {
		t.Fatal(err)
	}
	sec := rotasafe.DBSecret{Engine: "postgres", Host: pg.Host(), Port: pg.Port(), Username: user, Password: pw, DBName: "postgres"}

	t.Run("times the three steps", func(t *testing.T) {
		id := store(t, client, sec)
		before := sm.Calls("GetSecretValue")
		s, err := floor.Postgres(t.Context(), client, id, noTLS)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("rejected login %v, GetSecretValue %v, login %v, SELECT 1 %v, floor %v", s.Rejected, s.Read, s.Login, s.Query, s.Total())
		if s.Rejected <= 0 || s.Read <= 0 || s.Login <= 0 || s.Query <= 0 {
			t.Errorf("got steps %+v, want each timed", s)
		}
		if s.Total() != s.Rejected+s.Read+s.Login+s.Query {
			t.Errorf("got Total %v, want the sum of %+v", s.Total(), s)
		}
		if got := sm.Calls("GetSecretValue") - before; got != 2 {
			t.Errorf("got %d GetSecretValue calls, want 2 (one to find the database, one timed)", got)
		}
	})

	t.Run("a secret whose password is wrong fails the login step", func(t *testing.T) {
		bad := sec
		bad.Password = "floor-wrong-password-0123"
		id := store(t, client, bad)
		_, err := floor.Postgres(t.Context(), client, id, noTLS)
		if err == nil {
			t.Fatal("got no error, want the login with the secret's password refused")
		}
		if !strings.Contains(err.Error(), id) || strings.Contains(err.Error(), bad.Password) {
			t.Errorf("got %q, want the secret named and its password absent", err)
		}
	})

	t.Run("connection parameters that set credentials are refused", func(t *testing.T) {
		id := store(t, client, sec)
		if _, err := floor.Postgres(t.Context(), client, id, map[string]string{"user": "postgres"}); err == nil {
			t.Fatal("got no error, want the parameter user refused")
		}
	})

	t.Run("stale credentials that still work are an error", func(t *testing.T) {
		id := store(t, client, sec)
		_, err := floor.Time(t.Context(), client, id, "", rotasafe.StageCurrent, sec, noTLS)
		if err == nil || !strings.Contains(err.Error(), "took the stale credentials") || strings.Contains(err.Error(), pw) {
			t.Errorf("got %v, want an error saying nothing was rejected, without the password", err)
		}
	})

	t.Run("mid-rotation: the old password, then AWSPENDING", func(t *testing.T) {
		u, old, next := pgtest.UniqueName("floor"), pgtest.UniqueName("pw"), pgtest.UniqueName("pw")
		if err := pg.CreateRole(t.Context(), u, old); err != nil {
			t.Fatal(err)
		}
		cur := sec
		cur.Username, cur.Password = u, old
		id := store(t, client, cur)
		pend := cur
		pend.Password = next
		js, err := pend.MarshalSecret()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(id),
			SecretString: aws.String(string(js)), VersionStages: []string{rotasafe.StagePending}}); err != nil {
			t.Fatal(err)
		}
		verifier, err := scram.Verifier(next, []byte("floor-test-salt!"), 4096)
		if err != nil {
			t.Fatal(err)
		}
		// setSecret: the database takes only the new password.
		if err := pg.Exec(t.Context(), "ALTER ROLE "+pgx.Identifier{u}.Sanitize()+" PASSWORD '"+verifier+"'"); err != nil {
			t.Fatal(err)
		}
		before := sm.Calls("GetSecretValue")
		s, err := floor.Time(t.Context(), client, id, "", rotasafe.StagePending, cur, noTLS)
		if err != nil {
			t.Fatal(err)
		}
		if got := sm.Calls("GetSecretValue") - before; got != 1 || s.Rejected <= 0 || s.Read <= 0 || s.Login <= 0 || s.Query <= 0 {
			t.Errorf("got %d GetSecretValue calls and steps %+v, want one call and every step timed", got, s)
		}
	})

	t.Run("a missing secret is named", func(t *testing.T) {
		_, err := floor.Postgres(t.Context(), client, "floor/missing", noTLS)
		if !rotasafe.IsNotFound(err) || !strings.Contains(err.Error(), "floor/missing") {
			t.Errorf("got %v, want a not-found error naming the secret", err)
		}
	})
}
