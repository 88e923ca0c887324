package rotate

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
)

// scenario names a strategy and how to set up a secret for it.
type scenario struct {
	name        string
	alternating bool
	strategy    func(opts ...DBOption) Strategy
}

var scenarios = []scenario{
	{"single_user", false, PostgresSingleUser},
	{"alternating_users", true, PostgresAlternatingUsers},
	{"single_user_through_admin", false, func(opts ...DBOption) Strategy { return PostgresSingleUser(append(opts, WithAdminSecret())...) }},
}

// newSecret makes a login role and a secret for it (with masterarn, for the strategies that
// use it) and returns the secret's ARN and the role.
func (e *env) newSecret(sc scenario, masterARN string) (string, rotasafe.DBSecret) {
	e.t.Helper()
	s := e.role("app")
	s.MasterARN = masterARN
	return e.createSecret(pgtest.UniqueName("db"), s), s
}

func labelString(l rotasafe.Stages) string {
	var b strings.Builder
	for _, stage := range []string{rotasafe.StageCurrent, rotasafe.StagePending, rotasafe.StagePrevious} {
		id, _ := l.VersionOf(stage)
		b.WriteString(stage + "=" + id + " ")
	}
	return b.String()
}

// checkInterrupted checks the state a failed rotation leaves: something still logs in and at
// most one version is AWSPENDING.
func (e *smEnv) checkInterrupted(id, what string) {
	e.t.Helper()
	if !e.stageLogsIn(id, rotasafe.StageCurrent) && !e.stageLogsIn(id, rotasafe.StagePending) {
		e.t.Fatalf("%s: neither AWSCURRENT nor AWSPENDING logs in", what)
	}
	if n := pendingHolders(e.labels(id)); n > 1 {
		e.t.Fatalf("%s: %d versions hold AWSPENDING", what, n)
	}
}

// rerun finishes the rotation with a handler that does not fail and checks the end state.
func (e *smEnv) rerun(id, what string, h *Handler) {
	e.t.Helper()
	token, err := Rotate(e.t.Context(), e.api, id, h)
	if err != nil {
		e.t.Fatalf("%s: rerun: %v", what, err)
	}
	l := e.labels(id)
	if !l.Has(token, rotasafe.StageCurrent) {
		e.t.Fatalf("%s: rerun: version %s is not AWSCURRENT", what, token)
	}
	if n := pendingHolders(l); n > 1 {
		e.t.Fatalf("%s: rerun: %d versions hold AWSPENDING", what, n)
	}
	e.mustLogIn(id, rotasafe.StageCurrent)
}

// skipShort skips t under -short: the loops that interrupt a rotation at every API call or
// database operation take most of the package's time; `go test -short ./...` is the quick loop.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("interrupts every call of a rotation: skipped with -short")
	}
}

func TestInterruptedStatements(t *testing.T) {
	t.Parallel()
	skipShort(t)
	base := newEnv(t)
	for _, sc := range scenarios {
		modes := []bool{false}
		if sc.alternating { // a dropped connection inside the transaction
			modes = append(modes, true)
		}
		runInterrupted(t, sc.name, modes, func(t *testing.T, closeConn bool) {
			e := base.sub(t)
			master := e.master()
			clean := NewHandler(nil, sc.strategy(WithTLSMode(TLSDisable)))
			newID := func() string { id, _ := e.newSecret(sc, master); return id }
			e.interruptEach(newID, clean, func(k int) (*Handler, func() int) {
				fh := &failingHook{k: k, close: closeConn}
				return NewHandler(nil, sc.strategy(WithTLSMode(TLSDisable), withStmtHook(fh.hook))), func() int { return fh.n }
			})
		})
	}
}

func TestAlternatingUsersShareObjects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, orig := e.newSecret(scenarios[1], e.master())
	h := NewHandler(nil, PostgresAlternatingUsers())
	if _, err := Rotate(t.Context(), e.api, id, h); err != nil {
		t.Fatal(err)
	}
	prev := e.mustLogIn(id, rotasafe.StagePrevious)
	cur := e.mustLogIn(id, rotasafe.StageCurrent)
	if prev.Username != orig.Username || cur.Username != orig.Username+"_clone" {
		t.Fatalf("got users %s (previous) and %s (current), want %s and its clone", prev.Username, cur.Username, orig.Username)
	}
	ctx := t.Context()
	conn := func(s rotasafe.DBSecret) *pgx.Conn {
		c, err := pgx.Connect(ctx, e.pg.ConnString(s.Username, s.Password, "postgres"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	users := map[string]*pgx.Conn{"original": conn(prev), "clone": conn(cur)}
	// Let the original role create tables (PostgreSQL 15 no longer grants CREATE on public).
	if err := e.pg.Exec(ctx, "GRANT CREATE ON SCHEMA public TO "+pgx.Identifier{orig.Username}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	tables := map[string]string{"original": pgtest.UniqueName("t_orig"), "clone": pgtest.UniqueName("t_clone")}
	for who, table := range tables {
		if _, err := users[who].Exec(ctx, "CREATE TABLE "+table+" (v int)"); err != nil {
			t.Fatalf("%s creates a table: %v", who, err)
		}
		var owner string
		if err := users[who].QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE tablename = $1", table).Scan(&owner); err != nil {
			t.Fatal(err)
		}
		if owner != orig.Username {
			t.Errorf("table created by the %s is owned by %s, want %s", who, owner, orig.Username)
		}
	}
	for who, c := range users {
		for creator, table := range tables {
			if _, err := c.Exec(ctx, "INSERT INTO "+table+" VALUES (1)"); err != nil {
				t.Errorf("%s writes the table the %s created: %v", who, creator, err)
			}
			if _, err := c.Exec(ctx, "SELECT count(*) FROM "+table); err != nil {
				t.Errorf("%s reads the table the %s created: %v", who, creator, err)
			}
		}
	}
}

func TestNoInjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	master := e.master()
	victim := e.role("victim")
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			name := `x"; DROP ROLE ` + victim.Username + `; --` + pgtest.UniqueName("")
			pw := mustPassword(t)
			if err := e.pg.CreateRole(t.Context(), name, pw); err != nil {
				t.Fatal(err)
			}
			s := e.dbSecret(name, pw)
			s.MasterARN = master
			id := e.createSecret(pgtest.UniqueName("inj"), s)
			h := NewHandler(nil, sc.strategy())
			for range 2 {
				if _, err := Rotate(t.Context(), e.api, id, h); err != nil {
					t.Fatal(err)
				}
				e.mustLogIn(id, rotasafe.StageCurrent)
			}
			e.mustLogIn(e.master(), rotasafe.StageCurrent)
			if err := e.login(t.Context(), victim); err != nil {
				t.Fatalf("role %s no longer logs in: %v", victim.Username, err)
			}
		})
	}
}

func TestPlaintextNeverReachesServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, pgtest.WithLogStatements())
	master := e.master()
	var passwords []string
	for _, sc := range scenarios {
		id, s := e.newSecret(sc, master)
		passwords = append(passwords, s.Password)
		h := NewHandler(nil, sc.strategy())
		for range 2 {
			if _, err := Rotate(t.Context(), e.api, id, h); err != nil {
				t.Fatal(err)
			}
			cur, _ := e.fetch(id, rotasafe.StageCurrent)
			passwords = append(passwords, cur.Password)
		}
	}
	log, err := e.pg.ReadLog()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "WITH PASSWORD 'SCRAM-SHA-256$4096:") {
		t.Fatal("the server log shows no ALTER ROLE with a verifier; is log_statement on?")
	}
	for i, pw := range passwords {
		if strings.Contains(log, pw) {
			t.Errorf("password %d is in the server log", i)
		}
	}
}

func TestSetSecretErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	master := e.master()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			id, s := e.newSecret(sc, master)
			// The database no longer takes the stored password: nothing logs in.
			if err := e.pg.Exec(t.Context(), "ALTER ROLE "+pgx.Identifier{s.Username}.Sanitize()+" PASSWORD NULL"); err != nil {
				t.Fatal(err)
			}
			h := NewHandler(nil, sc.strategy(WithTLSMode(TLSDisable)))
			token, err := Rotate(t.Context(), e.api, id, h)
			var se *StepError
			if !errors.As(err, &se) || se.Step != rotasafe.StepSetSecret || se.Token != token || se.SecretID != id {
				t.Fatalf("got %v, want a setSecret StepError naming the secret and token", err)
			}
			pend, _ := e.fetch(id, rotasafe.StagePending)
			for what, v := range map[string]string{"current": s.Password, "pending": pend.Password, "master": e.pg.SuperPassword()} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("the error holds the %s password", what)
				}
			}
		})
	}
}

// TestAlternatingRefusesUnrelatedRoles checks that the secret of one role cannot take over
// another role whose name differs by the suffix: the pair must be a clone and its original.
func TestAlternatingRefusesUnrelatedRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	master := e.master()
	ctx := t.Context()
	for _, tt := range lookAlikes(pgtest.UniqueName) {
		t.Run(tt.name, func(t *testing.T) {
			owned, victim := e.dbSecret(tt.owned, mustPassword(t)), e.dbSecret(tt.victim, mustPassword(t))
			for _, s := range []rotasafe.DBSecret{owned, victim} {
				if err := e.pg.CreateRole(ctx, s.Username, s.Password); err != nil {
					t.Fatal(err)
				}
			}
			owned.MasterARN = master
			id := e.createSecret(pgtest.UniqueName("deputy"), owned)
			_, err := Rotate(ctx, e.api, id, NewHandler(nil, PostgresAlternatingUsers(WithTLSMode(TLSDisable))))
			if !errors.Is(err, errNotClone) {
				t.Fatalf("got %v, want a refusal", err)
			}
			if err := e.login(ctx, victim); err != nil {
				t.Fatalf("the other role's password changed: %v", err)
			}
		})
	}
}

func TestTLSModes(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // the cluster has no TLS
	tests := []struct {
		name    string
		mode    TLSMode
		sslmode string // the secret's "sslmode" field, if any
		wantErr bool
	}{
		{"default falls back to plain", TLSPreferVerified, "", false},
		{"prefer", TLSPrefer, "", false},
		{"disable", TLSDisable, "", false},
		{"require", TLSRequire, "", true},
		{"verify-full", TLSVerifyFull, "", true},
		{"from the secret: disable", TLSFromSecret, "disable", false},
		{"from the secret: require", TLSFromSecret, "require", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := e.role("tls")
			b, _ := s.MarshalSecret()
			if tt.sslmode != "" {
				b = []byte(strings.Replace(string(b), "{", `{"sslmode":"`+tt.sslmode+`",`, 1))
			}
			p := PostgresSingleUser(WithTLSMode(tt.mode)).(*pgStrategy)
			sec, err := parsePG(rotasafe.Version{SecretString: string(b)}, "test")
			if err != nil {
				t.Fatal(err)
			}
			conn, err := p.connect(t.Context(), sec)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), s.Password) {
				t.Fatal("the error holds the password")
			}
			closeConn(t.Context(), conn)
		})
	}
}

// TestKeepsOtherFields checks that a rotation changes the password (and, alternating, the
// username) and keeps every other field of the secret as it was, a string port included.
func TestKeepsOtherFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	master := e.master()
	for _, sc := range scenarios[:2] {
		t.Run(sc.name, func(t *testing.T) {
			s := e.role("keep")
			raw := `{"engine":"postgres","host":"` + s.Host + `","port":"` + strconv.Itoa(s.Port) + `","username":"` + s.Username +
				`","password":"` + s.Password + `","dbname":"postgres","masterarn":"` + master + `","proxy":{"endpoint":"p.example"},"note":"keep me"}`
			out, err := e.api.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(pgtest.UniqueName("keep")), SecretString: aws.String(raw)})
			if err != nil {
				t.Fatal(err)
			}
			id := aws.ToString(out.ARN)
			if _, err := Rotate(t.Context(), e.api, id, NewHandler(nil, sc.strategy(WithTLSMode(TLSDisable)))); err != nil {
				t.Fatal(err)
			}
			v, err := rotasafe.Fetch(t.Context(), e.api, id, "", rotasafe.StageCurrent)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(v.SecretString), &got); err != nil {
				t.Fatal(err)
			}
			if got["note"] != "keep me" || got["port"] != strconv.Itoa(s.Port) || got["proxy"] == nil || got["masterarn"] != master {
				t.Fatalf("fields lost or changed: note=%v port=%v proxy=%v", got["note"], got["port"], got["proxy"])
			}
			if got["password"] == s.Password {
				t.Fatal("the password did not change")
			}
			e.mustLogIn(id, rotasafe.StageCurrent)
		})
	}
}
