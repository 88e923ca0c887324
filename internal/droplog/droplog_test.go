package droplog_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rotasafe/rotasafe/internal/droplog"
)

func TestDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
		var d droplog.Log
		for range 5 {
			d.Dropped(l, "dropped", errors.New("bad"), "channel", "c")
		}
		time.Sleep(time.Minute)
		d.Dropped(l, "dropped", errors.New("bad"), "channel", "c")
		want := "level=WARN msg=dropped channel=c dropped=1 error=bad\n" +
			"level=WARN msg=dropped channel=c dropped=5 error=bad\n"
		if got := buf.String(); got != want {
			t.Fatalf("got\n%swant\n%s", got, want)
		}
		if strings.Count(buf.String(), "\n") != 2 {
			t.Fatal("more than two lines")
		}
	})
}
