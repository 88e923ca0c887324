package pgtest

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int // sign
	}{
		{"15", "9.6", 1},
		{"9.6", "10", -1},
		{"16", "16", 0},
		{"9.6", "9.5", 1},
	}
	for _, tt := range tests {
		got := compareVersions(tt.a, tt.b)
		if (got > 0) != (tt.want > 0) || (got < 0) != (tt.want < 0) {
			t.Errorf("compareVersions(%q, %q) = %d, want sign %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestQuoteConf(t *testing.T) {
	tests := []struct{ in, want string }{
		{"all", "'all'"},
		{"it's", "'it''s'"},
		{`a\b`, `'a\\b'`},
		{"x\ny", `'x\ny'`},
	}
	for _, tt := range tests {
		if got := quoteConf(tt.in); got != tt.want {
			t.Errorf("quoteConf(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestFindBinaries(t *testing.T) {
	root := t.TempDir()
	mk := func(version string, names ...string) {
		fixture.Executables(t, filepath.Join(root, version, "bin"), names...)
	}
	mk("9.6", "initdb", "pg_ctl", "postgres")
	mk("15", "initdb", "pg_ctl", "postgres")
	mk("16", "initdb", "pg_ctl") // incomplete: no postgres
	glob := filepath.Join(root, "*", "bin")

	t.Setenv("PATH", t.TempDir()) // nothing on PATH
	got, err := findBinaries(glob)
	if want := filepath.Join(root, "15", "bin"); err != nil || got.dir != want {
		t.Errorf("got %q, %v; want %q", got.dir, err, want)
	}

	t.Setenv("PATH", filepath.Join(root, "9.6", "bin")) // PATH wins over the glob
	got, err = findBinaries(glob)
	if want := filepath.Join(root, "9.6", "bin"); err != nil || got.dir != want {
		t.Errorf("with PATH: got %q, %v; want %q", got.dir, err, want)
	}

	t.Setenv("PATH", t.TempDir())
	if _, err := findBinaries(filepath.Join(root, "none", "*")); !errors.Is(err, ErrBinariesNotFound) {
		t.Errorf("no binaries: got %v, want ErrBinariesNotFound", err)
	}
}

// TestErrBinariesNotFound checks that a missing server skips (testserver.SkipOrFail matches
// it) with a message that says what to install.
func TestErrBinariesNotFound(t *testing.T) {
	if !errors.Is(ErrBinariesNotFound, testserver.ErrNotInstalled) {
		t.Error("ErrBinariesNotFound does not match testserver.ErrNotInstalled: a test without PostgreSQL would fail, not skip")
	}
	if msg := ErrBinariesNotFound.Error(); !strings.Contains(msg, "apt-get install postgresql") {
		t.Errorf("message %q does not say what to install", msg)
	}
}
