package logopt

import (
	"bytes"
	"log/slog"
	"testing"
)

func TestMeanings(t *testing.T) {
	var buf bytes.Buffer
	mine := slog.New(slog.NewTextHandler(&buf, nil))
	Or(Given(mine)).Info("kept")
	if buf.Len() == 0 {
		t.Fatal("a logger given to WithLogger received nothing")
	}
	buf.Reset()
	Or(Given(nil)).Error("dropped")
	if Or(Given(nil)).Enabled(t.Context(), slog.LevelError) {
		t.Fatal("WithLogger(nil) does not discard")
	}

	old := slog.Default()
	defer slog.SetDefault(old)
	slog.SetDefault(mine)
	Or(nil).Info("default")
	if buf.Len() == 0 {
		t.Fatal("without WithLogger, records do not reach slog.Default() as it is at log time")
	}
}
