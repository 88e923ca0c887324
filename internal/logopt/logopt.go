// Package logopt gives every rotasafe package's WithLogger option one meaning: without the
// option, records go to slog.Default() as it is when they are logged; WithLogger(nil)
// discards them. An option stores Given(l); the package logs to Or(stored).
package logopt

import "log/slog"

var discard = slog.New(slog.DiscardHandler)

// Given returns what a WithLogger(l) option stores: l, or a logger that discards when l is nil.
func Given(l *slog.Logger) *slog.Logger {
	if l == nil {
		return discard
	}
	return l
}

// Or returns stored, or slog.Default() as it is now when no WithLogger option set one.
func Or(stored *slog.Logger) *slog.Logger {
	if stored == nil {
		return slog.Default()
	}
	return stored
}
