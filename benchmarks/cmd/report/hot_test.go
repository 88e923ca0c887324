package main

import "testing"

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
			if got := string(spliceHot([]byte(tt.doc), []byte(tt.sec))); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
	doc := "# r\n\n" + sec("kept") + "\n## 5. Fleet simulation\n"
	if got := string(hotSection([]byte(doc))); got != sec("kept") {
		t.Errorf("hotSection: got %q, want %q", got, sec("kept"))
	}
	if hotSection([]byte("# r\n")) != nil {
		t.Error("hotSection of a document without one: want nil")
	}
}
