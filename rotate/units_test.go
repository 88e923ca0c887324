package rotate

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/scram"
	"github.com/rotasafe/rotasafe/internal/testserver/pgtest"
	"github.com/rotasafe/rotasafe/smtest"
)

func TestPasswordPolicy(t *testing.T) {
	t.Parallel()
	digitsOnly := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, string(alphabet("")))
	tests := []struct {
		name     string
		opts     []Option
		length   int
		allowed  string
		classesN int // character classes that must all appear
	}{
		{"default", nil, 32, string(alphabet(DefaultExcludeCharacters)), 4},
		{"longer", []Option{WithPasswordLength(100)}, 100, string(alphabet(DefaultExcludeCharacters)), 4},
		{"digits only", []Option{WithExcludeCharacters(digitsOnly), WithPasswordLength(8)}, 8, "0123456789", 1},
		{"nothing excluded", []Option{WithExcludeCharacters("")}, 32, string(alphabet("")), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := newHandlerConfig(tt.opts)
			seen := map[string]bool{}
			for range 50 {
				pw, err := cfg.pw.generate(t.Context(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(pw) != tt.length {
					t.Fatalf("got length %d, want %d", len(pw), tt.length)
				}
				if i := strings.IndexFunc(pw, func(r rune) bool { return !strings.ContainsRune(tt.allowed, r) }); i >= 0 {
					t.Fatalf("character %d is not allowed", i)
				}
				n := 0
				for _, cl := range passwordClasses {
					if strings.ContainsAny(pw, cl) {
						n++
					}
				}
				if n != tt.classesN {
					t.Fatalf("password has %d character classes, want %d", n, tt.classesN)
				}
				if seen[pw] {
					t.Fatal("password repeated")
				}
				seen[pw] = true
			}
		})
	}
	if strings.ContainsAny(string(alphabet(DefaultExcludeCharacters)), ":/@\"'\\ \t\n") {
		t.Fatal("the default alphabet holds an excluded character or whitespace")
	}
}

func TestPasswordFromAPI(t *testing.T) {
	t.Parallel()
	s := smtest.New(t)
	c := s.Client()
	cfg := newHandlerConfig([]Option{WithRandomPasswordAPI(), WithPasswordLength(40)})
	pw, err := cfg.pw.generate(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(pw) != 40 || strings.ContainsAny(pw, DefaultExcludeCharacters+" ") {
		t.Fatalf("got a %d-character password or one with excluded characters", len(pw))
	}
	if n := s.Calls("GetRandomPassword"); n != 1 {
		t.Fatalf("got %d GetRandomPassword calls, want 1", n)
	}
}

// TestVerifierLiteral checks that verifierLiteral passes a verifier and refuses anything that
// could end the SQL string literal it is spliced into.
func TestVerifierLiteral(t *testing.T) {
	t.Parallel()
	a, err := scram.New("same")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifierLiteral(a); err != nil {
		t.Errorf("verifierLiteral rejects a verifier: %v", err)
	}
	for _, bad := range []string{"", "md5abc", a + "'", a[:20] + "'; DROP ROLE x; --" + a[20:], strings.Replace(a, "$", "$$", 1), a + "\n"} {
		if _, err := verifierLiteral(bad); err == nil {
			t.Errorf("verifierLiteral accepts %q", bad)
		}
	}
}

// TestSCRAMVerifierLogsIn sets a verifier on a real server and logs in with the password.
func TestSCRAMVerifierLogsIn(t *testing.T) {
	t.Parallel()
	c := pgtest.New(t)
	ctx := t.Context()
	name := pgtest.UniqueName("scram")
	pw := mustPassword(t)
	if err := c.CreateRole(ctx, name, mustPassword(t)); err != nil {
		t.Fatal(err)
	}
	v, err := scram.New(pw)
	if err != nil {
		t.Fatal(err)
	}
	lit, _ := verifierLiteral(v)
	if err := c.Exec(ctx, "ALTER ROLE "+pgx.Identifier{name}.Sanitize()+" PASSWORD "+lit); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pw     string
		wantOK bool
	}{{pw, true}, {pw + "x", false}} {
		conn, err := pgx.Connect(ctx, c.ConnString(name, tt.pw, "postgres"))
		if (err == nil) != tt.wantOK {
			t.Fatalf("login (right password: %v): got %v", tt.wantOK, err)
		}
		if conn != nil {
			conn.Close(context.Background())
		}
	}
}

func TestCloneNames(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 60)
	utf := strings.Repeat("é", 29) // 58 bytes
	tests := []struct {
		name, suffix, user, prev, want string
	}{
		{"clone", "_clone", "app", "", "app_clone"},
		{"original", "_clone", "app_clone", "app", "app"},
		{"original without previous", "_clone", "app_clone", "", "app"},
		{"custom suffix", "_b", "app", "", "app_b"},
		{"cut to 63 bytes", "_clone", long, "", long[:57] + "_clone"},
		{"cut clone back via previous", "_clone", long[:57] + "_clone", long, long},
		{"cut at a character boundary", "_clone", utf, "", strings.Repeat("é", 28) + "_clone"},
		{"just the suffix", "_clone", "_clone", "", "_clone_clone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PostgresAlternatingUsers(WithCloneSuffix(tt.suffix)).(*pgStrategy)
			sc := &StepContext{prevRead: true}
			if tt.prev != "" {
				sc.previous = &rotasafe.Version{SecretString: `{"username":"` + tt.prev + `","password":"p","host":"h"}`}
				sc.hasPrev = true
			}
			got, err := p.alternate(t.Context(), sc, tt.user)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || len(got) > maxIdentifier {
				t.Fatalf("got %q (%d bytes), want %q", got, len(got), tt.want)
			}
		})
	}
}

func TestSSLModeOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want TLSMode
	}{
		{`{}`, TLSPreferVerified},
		{`{"sslmode":"require"}`, TLSRequire},
		{`{"sslmode":"VERIFY-FULL"}`, TLSVerifyFull},
		{`{"sslmode":"allow"}`, TLSPrefer},
		{`{"ssl":true}`, TLSVerifyFull},
		{`{"ssl":"false"}`, TLSDisable},
		{`not json`, TLSPreferVerified},
	}
	for _, tt := range tests {
		if got := sslModeOf(tt.raw); got != tt.want {
			t.Errorf("sslModeOf(%s) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestNewTokenIsUUID(t *testing.T) {
	t.Parallel()
	tok := newToken()
	if len(tok) != 36 || tok[14] != '4' || strings.Count(tok, "-") != 4 || tok == newToken() {
		t.Fatalf("got %q, want a fresh version-4 UUID", tok)
	}
}

// TestUnsupportedEngines checks that a PostgreSQL strategy refuses other engines by name, and
// says why it refuses Redshift, which sqlconn connects to.
func TestUnsupportedEngines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		engine string
		want   []string
	}{
		{"postgres", nil},
		{"aurora-postgresql", nil},
		{"", nil},
		{"redshift", []string{`engine "redshift"`, "SCRAM-SHA-256", "plaintext"}},
		{"mysql", []string{`engine "mysql" is not PostgreSQL`}},
	}
	for _, tt := range tests {
		t.Run("engine="+tt.engine, func(t *testing.T) {
			t.Parallel()
			secret := `{"engine":"` + tt.engine + `","host":"db.example","username":"app","password":"hunter2-secret"}`
			_, err := parsePG(rotasafe.Version{ID: "v1", SecretString: secret}, "AWSCURRENT")
			if (err != nil) != (tt.want != nil) {
				t.Fatalf("got %v, want an error: %v", err, tt.want != nil)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
			if err != nil && strings.Contains(err.Error(), "hunter2-secret") {
				t.Errorf("the error holds the password: %v", err)
			}
		})
	}
}
