package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSpliceHot: -hot replaces its section alone, inserts it before the fleet section the
// first time, and a full report carries it over.
func TestSpliceHot(t *testing.T) {
	sec := func(body string) string { return hotBegin + "\n" + body + "\n" + hotEnd + "\n" }
	tests := []struct {
		name, doc, sec, want string
	}{
		{"replace", "# r\n\n" + sec("old") + "\n## 5. Fleet simulation\n", sec("new"), "# r\n\n" + sec("new") + "\n## 5. Fleet simulation\n"},
		{"insert before the fleet", "# r\n\n## 4. x\n\n## 5. Fleet simulation\n", sec("new"), "# r\n\n## 4. x\n\n" + sec("new") + "\n## 5. Fleet simulation\n"},
		{"append", "# r\n", sec("new"), "# r\n\n" + sec("new")},
		{"no document yet", "", sec("new"), sec("new")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(hotKept.splice([]byte(tt.doc), []byte(tt.sec))); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
	doc := "# r\n\n" + sec("kept") + "\n## 5. Fleet simulation\n"
	if got := string(hotKept.section([]byte(doc))); got != sec("kept") {
		t.Errorf("section: got %q, want %q", got, sec("kept"))
	}
	if hotKept.section([]byte("# r\n")) != nil {
		t.Error("section of a document without one: want nil")
	}
}

// template is what a full report writes before keep: writeReport with no results.
func template() []byte {
	var b bytes.Buffer
	writeReport(&b, options{}, machineInfo{}, results{}, nil, nil, nil, nil, time.Second)
	return b.Bytes()
}

// oldReport is a report as a person left it: the template with a hot-path section and the
// hand-written OpenTelemetry section, both with text the template does not write.
func oldReport(t *testing.T) (doc, hot, otel []byte) {
	hot = []byte(hotBegin + "\n## Hot paths against their floors\n\n| path | run 1 |\n|---|---:|\n| x | 1.06× ✓ |\n" + hotEnd + "\n")
	otel = []byte(otelKept.begin + "\n## OpenTelemetry metrics: what they cost on the hot paths\n\nMeasured by hand.  \n\n| a | b |\n|---|---:|\n| hit | 10.48 ns |\n" + otelKept.end + "\n")
	doc = otelKept.splice(hotKept.splice(template(), hot), otel)
	if !bytes.Equal(hotKept.section(doc), hot) || !bytes.Equal(otelKept.section(doc), otel) {
		t.Fatalf("the old report lacks its sections:\n%s", doc)
	}
	return doc, hot, otel
}

// order checks that the lines of doc starting with each of want come in want's order.
func order(t *testing.T, doc []byte, want ...string) {
	t.Helper()
	at := -1
	for _, w := range want {
		i := bytes.Index(doc, []byte("\n"+w))
		if i <= at {
			t.Errorf("%q is at %d, want it after %d (%q)", w, i, at, want)
		}
		at = i
	}
}

// TestKeepOld: a full report over an old file keeps both sections byte for byte, the hot
// paths between sections 4 and 5, the OpenTelemetry section just before section 6, and
// changes nothing else.
func TestKeepOld(t *testing.T) {
	old, hot, otel := oldReport(t)
	tmpl := template()
	got := keep(tmpl, old)
	if !bytes.Equal(hotKept.section(got), hot) {
		t.Errorf("hot paths: got\n%s\nwant\n%s", hotKept.section(got), hot)
	}
	if !bytes.Equal(otelKept.section(got), otel) {
		t.Errorf("OpenTelemetry: got\n%s\nwant\n%s", otelKept.section(got), otel)
	}
	order(t, got, "## 4. ", hotBegin, "## 5. ", otelKept.begin, "## 6. ")
	if !bytes.Contains(got, append(otel, "\n## 6. "...)) {
		t.Error("the OpenTelemetry section is not right before section 6")
	}
	// Without the two sections (and the blank line after each), the template is left.
	rest := bytes.Replace(bytes.Replace(got, append(hot, '\n'), nil, 1), append(otel, '\n'), nil, 1)
	if !bytes.Equal(rest, tmpl) {
		t.Errorf("the rest of the report changed:\n%s", rest)
	}
	// A second full run keeps them again.
	if again := keep(tmpl, got); !bytes.Equal(again, got) {
		t.Error("a second full run changed the report")
	}
}

// TestKeepNoOld: without an old file the hot-path markers come with the note to run -hot,
// and no OpenTelemetry section is made up.
func TestKeepNoOld(t *testing.T) {
	got := keep(template(), nil)
	sec := string(hotKept.section(got))
	if sec == "" || !strings.Contains(sec, "`go run ./cmd/report -hot`") {
		t.Errorf("hot paths: got %q, want the markers and the note", sec)
	}
	order(t, got, "## 4. ", hotBegin, "## 5. ")
	if bytes.Contains(got, []byte(otelKept.begin)) || bytes.Contains(got, []byte(otelKept.end)) {
		t.Error("got OpenTelemetry markers without an old section")
	}
}

// TestHotKeepsOthers: -hot over a full report replaces its section and nothing else.
func TestHotKeepsOthers(t *testing.T) {
	old, hot, otel := oldReport(t)
	sec := []byte(hotBegin + "\nnew figures\n" + hotEnd + "\n")
	got := hotKept.splice(old, sec)
	if !bytes.Equal(hotKept.section(got), sec) {
		t.Errorf("hot paths: got %q, want %q", hotKept.section(got), sec)
	}
	if !bytes.Equal(otelKept.section(got), otel) {
		t.Errorf("OpenTelemetry section changed: %q", otelKept.section(got))
	}
	if want := bytes.Replace(old, hot, sec, 1); !bytes.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestBenchmarksMDMarked: the committed BENCHMARKS.md marks every kept section, so that a
// full run keeps it.
func TestBenchmarksMDMarked(t *testing.T) {
	doc, err := os.ReadFile("../../BENCHMARKS.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kept {
		if k.section(doc) == nil {
			t.Errorf("BENCHMARKS.md has no section between %q and %q", k.begin, k.end)
		}
	}
}
