package option

import (
	"strings"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want bool
	}{{0, false}, {time.Second, true}} {
		if got := Duration("p", "WithTimeout", "timeout", tt.d); got != tt.want {
			t.Errorf("Duration(%v) = %v, want %v", tt.d, got, tt.want)
		}
	}
	if got := panicOf(func() { Duration("p", "WithTimeout", "timeout", -time.Second) }); got != "p: WithTimeout(-1s): timeout is negative" {
		t.Errorf("panic = %q, want p: WithTimeout(-1s): timeout is negative", got)
	}
}

func TestCloneSuffix(t *testing.T) {
	if got := CloneSuffix("p", "WithCloneSuffix", "_b"); got != "_b" {
		t.Errorf("CloneSuffix(_b) = %q, want _b", got)
	}
	for _, s := range []string{"", strings.Repeat("x", 33)} {
		if got := panicOf(func() { CloneSuffix("p", "WithCloneSuffix", s) }); !strings.HasPrefix(got, "p: WithCloneSuffix(") || !strings.Contains(got, "1 to 32 bytes") {
			t.Errorf("CloneSuffix(%q) panic = %q, want p: WithCloneSuffix(...): ... 1 to 32 bytes", s, got)
		}
	}
}

func panicOf(f func()) (msg string) {
	defer func() { msg, _ = recover().(string) }()
	f()
	return ""
}

func TestApply(t *testing.T) {
	type opt func(*[]string)
	var got []string
	Apply(&got, []opt{func(s *[]string) { *s = append(*s, "a") }, nil, func(s *[]string) { *s = append(*s, "b") }})
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("got %v, want [a b]", got)
	}
}
