package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// status reports progress. On a terminal it redraws one status line a few times a second;
// otherwise it writes one plain line per event (rotation, error), with no control
// characters, so output piped to a file stays clean.
type status struct {
	out  io.Writer
	term bool

	mu       sync.Mutex // guards everything below and writes to out
	c        *counters
	cfg      config
	start    time.Time
	stop     chan struct{}
	done     chan struct{}
	errLines int // application errors printed as lines (capped)
}

func newStatus(out io.Writer, term bool) *status { return &status{out: out, term: term} }

func (s *status) begin(cfg config, c *counters, start time.Time) {
	s.mu.Lock()
	s.c, s.cfg, s.start = c, cfg, start
	s.mu.Unlock()
	s.printf("rotasafe demo: %d workers querying %s for %s, rotating the password every %s (%s strategy)\n",
		cfg.workers, engineName(cfg.engine), cfg.duration, cfg.rotateEvery, cfg.strategy)
	if !s.term {
		return
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.mu.Lock()
				fmt.Fprintf(s.out, "\r\033[K%s", s.line())
				s.mu.Unlock()
			}
		}
	}()
}

func (s *status) end() {
	if s.term && s.stop != nil {
		close(s.stop)
		<-s.done
		s.mu.Lock()
		fmt.Fprintf(s.out, "\r\033[K%s\n", s.line())
		s.mu.Unlock()
	}
}

// line is the status line; s.mu must be held.
func (s *status) line() string {
	rec := "-"
	if d := time.Duration(s.c.lastRecover.Load()); d > 0 {
		rec = d.Round(100 * time.Microsecond).String()
	}
	return fmt.Sprintf("%5.1fs  rotations %d  queries ok %d  errors seen by the app %d  last time to recover %s",
		time.Since(s.start).Seconds(), s.c.rotations.Load(), s.c.queries.Load(), s.c.appErrors.Load(), rec)
}

func (s *status) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.term {
		io.WriteString(s.out, "\r\033[K")
	}
	fmt.Fprintf(s.out, format, args...)
}

func (s *status) rotated(n int, version, user string, took, recovered time.Duration) {
	if s.term {
		return // the status line shows it
	}
	s.printf("rotation %d: version %s, took %s; a new connection logged in as %s %s later; queries ok %d, errors seen by the app %d\n",
		n, version, took.Round(time.Millisecond), user, recovered.Round(100*time.Microsecond), s.c.queries.Load(), s.c.appErrors.Load())
}

func (s *status) rotationFailed(n int, err error) {
	s.printf("rotation %d failed: %v\n", n, err)
}

// appError prints the first few errors the application saw; they are the demo's failure.
func (s *status) appError(err error) {
	const maxLines = 5
	s.mu.Lock()
	s.errLines++
	show := s.errLines <= maxLines
	s.mu.Unlock()
	if show {
		s.printf("error seen by the application: %v\n", err)
	}
}

func (sum summary) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "  %s\t%v\n", k, v) }
	fmt.Fprintln(tw, "summary")
	row("strategy", sum.Strategy)
	if sum.Client != "" {
		row("client", sum.Client)
	}
	if sum.Notices != "" && sum.Notices != "none" {
		row("rotation notices", sum.Notices)
	}
	row("duration", fmt.Sprintf("%.1fs", sum.Seconds))
	row("workers", sum.Workers)
	row("rotations", sum.Rotations)
	row("rotations failed", sum.RotationErrors)
	row("queries ok", sum.Queries)
	row("errors seen by the app", sum.AppErrors)
	row("logins", sum.Logins)
	row("logins rejected (then retried)", sum.RejectedLogins)
	row("AWSPENDING/AWSPREVIOUS fallbacks", sum.Fallbacks)
	row("Secrets Manager calls by the app", sum.AppAPICalls)
	row("Secrets Manager calls in all", sum.TotalAPICalls)
	row("time to recover p50 / max", fmt.Sprintf("%.1f ms / %.1f ms", sum.RecoverP50Millis, sum.RecoverMaxMillis))
	if sum.FloorP50Millis > 0 {
		row("floor of recovering p50", fmt.Sprintf("%.1f ms (rejected login + GetSecretValue + login + query); time to recover p50 = %.2fx floor",
			sum.FloorP50Millis, sum.RecoverP50Millis/sum.FloorP50Millis))
	}
	tw.Flush()
	verdict := "OK: no error reached the application"
	if sum.AppErrors > 0 || sum.RotationErrors > 0 {
		verdict = "FAILED: " + strings.TrimSpace(fmt.Sprintf("%d errors reached the application, %d rotations failed", sum.AppErrors, sum.RotationErrors))
	}
	fmt.Fprintln(w, verdict)
}
