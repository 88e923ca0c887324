package sqlconn

import (
	"fmt"
	"strings"
)

// maxAttempts bounds ConnectError.Attempts: a connect that retries for long keeps the most
// recent attempts only.
const maxAttempts = 32

// Attempt is one login tried by a Connect call.
type Attempt struct {
	VersionID string // the secret version whose credentials were used
	Stage     string // the staging label the version held when fetched ("AWSCURRENT", ...), or ""
	Class     Class  // how the Driver classified Err
	Err       error  // what the driver returned
}

// ConnectError is the error Connect returns when it gives up. It says which secret and
// which of its versions were tried and why each failed, and wraps the final cause, so that
// errors.Is and errors.As reach the driver's error (a *pgconn.PgError, say), a
// *retry.ExhaustedError when the retry policy or the context ran out, and
// context.DeadlineExceeded when the deadline ended the connect.
//
// Neither its message nor any fmt verb prints a password: it holds version IDs, labels and
// the driver's errors, which name the user and database but not the password.
type ConnectError struct {
	SecretID string    // the secret the credentials came from
	Attempts []Attempt // the logins tried, oldest first; at most the 32 most recent
	Total    int       // how many logins were tried in all, counting those dropped from Attempts
	Err      error     // why Connect gave up: the last driver error, or the retry loop's error wrapping it
}

// Error reads, for example:
//
//	sqlconn: connect with secret "prod/db" failed after 6 logins (version 7f3a… AWSCURRENT: 3 auth;
//	version 19bc… AWSPENDING: 3 auth): retry: gave up after 3 attempts in 1.2s: failed to connect to …
func (e *ConnectError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sqlconn: connect with secret %q failed", e.SecretID)
	if e.Total == 0 {
		b.WriteString(" before any login")
	} else {
		fmt.Fprintf(&b, " after %d login", e.Total)
		if e.Total != 1 {
			b.WriteString("s")
		}
		b.WriteString(" (")
		b.WriteString(e.summary())
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// summary groups the attempts by version and class, in the order first seen.
func (e *ConnectError) summary() string {
	type key struct {
		id, stage string
	}
	var order []key
	counts := map[key]map[Class]int{}
	for _, a := range e.Attempts {
		k := key{a.VersionID, a.Stage}
		if counts[k] == nil {
			counts[k] = map[Class]int{}
			order = append(order, k)
		}
		counts[k][a.Class]++
	}
	parts := make([]string, 0, len(order))
	for _, k := range order {
		var s strings.Builder
		s.WriteString("version ")
		s.WriteString(k.id)
		if k.stage != "" {
			s.WriteString(" " + k.stage)
		}
		s.WriteString(":")
		for _, c := range []Class{ClassAuth, ClassTransient, ClassOther} {
			if n := counts[k][c]; n > 0 {
				fmt.Fprintf(&s, " %d %s", n, c)
			}
		}
		parts = append(parts, s.String())
	}
	if len(e.Attempts) < e.Total {
		parts = append(parts, fmt.Sprintf("and %d earlier", e.Total-len(e.Attempts)))
	}
	return strings.Join(parts, "; ")
}

// Unwrap returns Err.
func (e *ConnectError) Unwrap() error { return e.Err }

// Format prints Error under every verb, so %#v and %+v print no more than %v does.
func (e *ConnectError) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", e.Error())
		return
	}
	_, _ = f.Write([]byte(e.Error()))
}

// attemptLog collects the attempts of one Connect call.
type attemptLog struct {
	list  []Attempt
	total int
}

func (l *attemptLog) add(a Attempt) {
	l.total++
	if len(l.list) == maxAttempts {
		copy(l.list, l.list[1:])
		l.list = l.list[:maxAttempts-1]
	}
	l.list = append(l.list, a)
}
