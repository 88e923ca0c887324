package rotate

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
)

// The rotator's own logins, counted by the server: an ordinary rotation of any strategy makes
// no failed login (setSecret logs in with AWSCURRENT first and tries AWSPENDING only when that
// fails), so lockout counters (MariaDB's max_password_errors, MySQL's FAILED_LOGIN_ATTEMPTS)
// and failed-login alerts see none. A replayed setSecret still finds its work done.

// TestNoFailedLoginPostgres counts PostgreSQL's "password authentication failed" log lines
// for the secret's users through two rotations of each strategy (the alternating one both
// ways), then a rotation whose every step runs twice.
func TestNoFailedLoginPostgres(t *testing.T) {
	t.Parallel()
	base := newEnv(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := base.sub(t)
			id, orig := e.newSecret(sc, e.master())
			h := NewHandler(nil, sc.strategy(WithTLSMode(TLSDisable)))
			for i := range 2 {
				if _, err := Rotate(t.Context(), e.api, id, h); err != nil {
					t.Fatalf("rotation %d: %v", i+1, err)
				}
			}
			if n := e.failedLogins(t, orig.Username); n != 0 {
				t.Errorf("the server logged %d failed logins of %s and its clone in two rotations, want 0", n, orig.Username)
			}
			if _, err := drive(t.Context(), e.api, id, h, 2); err != nil {
				t.Fatalf("a rotation with every step run twice: %v", err)
			}
			e.mustLogIn(id, rotasafe.StageCurrent)
		})
	}
}

// failedLogins returns how many failed logins the server logged for user and its clone. A
// failed login of a canary user is made and waited for first, so that every line written
// before it is in the log.
func (e *env) failedLogins(t *testing.T, user string) int {
	t.Helper()
	canary := e.dbSecret("canary_"+strconv.FormatInt(time.Now().UnixNano(), 36), "wrong")
	if e.login(t.Context(), canary) == nil {
		t.Fatal("the canary logged in")
	}
	want := regexp.MustCompile(`password authentication failed for user "` + regexp.QuoteMeta(user) + `(_clone)?"|role "` + regexp.QuoteMeta(user) + `(_clone)?" does not exist`)
	deadline := time.Now().Add(time.Minute) // a hang guard
	for {
		log, err := e.pg.ReadLog()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(log, canary.Username) {
			return len(want.FindAllString(log, -1))
		}
		if time.Now().After(deadline) {
			t.Fatal("the canary's failed login never reached the server log")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNoFailedLoginMySQL counts MariaDB's Access_denied_errors through two rotations of each
// strategy, with max_password_errors=2 as a lockout would be configured, then a rotation whose
// every step runs twice. The subtests run one after the other: the counter is the server's.
func TestNoFailedLoginMySQL(t *testing.T) {
	t.Parallel()
	base := newMyEnv(t, mysqltest.WithSetting("max_password_errors", "2"))
	denied := func(e *myEnv) int {
		rows := e.adminQuery(2, "SHOW GLOBAL STATUS LIKE 'Access_denied_errors'")
		n, err := strconv.Atoi(rows[0][1])
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, sc := range myScenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := base.sub(t)
			id, _ := e.newSecret(e.master())
			h := sc.handler()
			before := denied(e)
			for i := range 2 {
				if _, err := Rotate(t.Context(), e.api, id, h); err != nil {
					t.Fatalf("rotation %d: %v", i+1, err)
				}
			}
			if n := denied(e) - before; n != 0 {
				t.Errorf("the server counted %d denied logins in two rotations, want 0", n)
			}
			if _, err := drive(t.Context(), e.api, id, h, 2); err != nil {
				t.Fatalf("a rotation with every step run twice: %v", err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cur, _ := e.fetch(id, rotasafe.StageCurrent)
			if err := e.login(ctx, cur); err != nil {
				t.Fatalf("AWSCURRENT does not log in after the replayed rotation: %v", err)
			}
		})
	}
}
