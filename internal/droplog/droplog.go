// Package droplog logs dropped messages without flooding the log: the first drop of a kind,
// then at most one line per interval with the count since the last line. The notice
// transports use it for messages that are not notices, which anyone allowed to publish on the
// channel can send at any rate.
package droplog

import (
	"log/slog"
	"time"
)

// Log counts drops of one kind. The zero value logs at most once a minute. It is not safe for
// concurrent use: each subscriber loop keeps its own.
type Log struct {
	Every time.Duration // the least time between two lines; zero means a minute

	count  int
	logged time.Time
}

// Dropped counts one drop and logs msg with args, the count and err when the last line is
// old enough. err must not hold the dropped content (notice.Decode's errors do not).
func (d *Log) Dropped(l *slog.Logger, msg string, err error, args ...any) {
	d.count++
	every := d.Every
	if every <= 0 {
		every = time.Minute
	}
	if !d.logged.IsZero() && time.Since(d.logged) < every {
		return
	}
	l.Warn(msg, append(args, "dropped", d.count, "error", err)...)
	d.logged, d.count = time.Now(), 0
}
