package rotasafe

import (
	"context"
	"fmt"
	"strings"
)

// Source is where a client (sqlconn, redisconn, pgxpoolconn, or any user of package login)
// reads the versions of a secret it logs in with. A *cache.Cache is one; a test double, a
// sidecar reader or another cache may be another.
//
// Clients call Get before every login and Reread only after the database rejected a
// version, so Get must be cheap and Reread must bound itself: a fleet's worth of rejected
// logins must not become a fleet's worth of Secrets Manager calls. A Source that can name a
// version to try before AWSCURRENT implements [Preferrer] as well.
type Source interface {
	// Get returns the AWSCURRENT version of secretID, from a cache when it has a fresh one.
	Get(ctx context.Context, secretID string) (Version, error)

	// Reread returns the version of secretID that holds stage, for a caller whose login with
	// version rejectedID was just rejected. The answer must come from a read of Secrets
	// Manager that began after rejectedID was first reported rejected, so that it reflects
	// the rotation that made the database reject it. Concurrent and repeated reports of the
	// same rejected version may share one read: a source should make at most one call per
	// (secret, stage, rejected version), and after that at most one per its own floor.
	// The Version must carry every label its version held when read (GetSecretValue
	// answers with them), since clients learn from them where AWSCURRENT is.
	// rotasafe.IsNotFound reports a stage that no version holds.
	Reread(ctx context.Context, secretID, stage, rejectedID string) (Version, error)
}

// Preferrer is a [Source] that can name a version of a secret to try before AWSCURRENT. A
// *cache.Cache that listens to rotation notices is one: it offers the version a notice said
// the database takes now.
//
// Clients call Prefer before every login, so it must be cheap; it may wait within ctx for a
// version being read. ok false means no version is preferred. A client stops preferring a
// version once the database rejects it.
type Preferrer interface {
	Prefer(ctx context.Context, secretID string) (v Version, ok bool)
}

// Class says what kind of failure a login attempt met, as a client's driver classifies it.
type Class int

const (
	// ClassOther is a failure that neither other credentials nor waiting will fix, such as a
	// database that does not exist. The client gives up at once.
	ClassOther Class = iota
	// ClassAuth is a rejected login: the credentials are wrong, perhaps because a rotation
	// changed them. The client tries the secret's other staging labels.
	ClassAuth
	// ClassTransient is a failure that may go away by itself: a refused or reset connection,
	// a timeout, a server that is starting, shutting down or full. The client waits with
	// jittered backoff and tries again.
	ClassTransient
)

// String returns "other", "auth" or "transient".
func (c Class) String() string {
	switch c {
	case ClassAuth:
		return "auth"
	case ClassTransient:
		return "transient"
	}
	return "other"
}

// Attempt is one login a client tried with one version of a secret.
type Attempt struct {
	VersionID string // the version whose credentials were used
	Stage     string // the staging label the version held when read ("AWSCURRENT", ...), or ""
	Class     Class  // how the client's driver classified Err
	Err       error  // what the driver returned
}

// ConnectError is the error a client returns when it gives up logging in. It names the
// secret and the versions tried and why each failed, and wraps the final cause, so that
// errors.Is and errors.As reach the driver's error (a *pgconn.PgError, a *mysql.MySQLError),
// a *retry.ExhaustedError when the retry policy ran out, and context.DeadlineExceeded when
// the deadline ended the connect.
//
// It holds version IDs, labels and the driver's errors, which name the user and database
// but not the password; no fmt verb prints more than Error does.
type ConnectError struct {
	Client   string    // the package that gave up: "sqlconn", "redisconn", "pgxpoolconn"
	SecretID string    // the secret the credentials came from
	Attempts []Attempt // the logins tried, oldest first; at most the 32 most recent
	Total    int       // how many logins were tried in all, counting those dropped from Attempts
	Err      error     // why the client gave up: the last driver error, or the retry loop's error wrapping it
}

// Error reads, for example:
//
//	sqlconn: connect with secret "prod/db" failed after 6 logins (version 7f3a… AWSCURRENT: 3 auth;
//	version 19bc… AWSPENDING: 3 auth): retry: gave up after 3 attempts in 1.2s: failed to connect to …
func (e *ConnectError) Error() string {
	var b strings.Builder
	client := e.Client
	if client == "" {
		client = "rotasafe"
	}
	fmt.Fprintf(&b, "%s: connect with secret %q failed", client, e.SecretID)
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
	type key struct{ id, stage string }
	var order []key
	counts := map[key]*[3]int{}
	for _, a := range e.Attempts {
		k := key{a.VersionID, a.Stage}
		if counts[k] == nil {
			counts[k] = new([3]int)
			order = append(order, k)
		}
		if a.Class >= 0 && int(a.Class) < 3 {
			counts[k][a.Class]++
		}
	}
	parts := make([]string, 0, len(order)+1)
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

// StageCounts counts events by the staging label they concern.
type StageCounts struct {
	Current  int64 // AWSCURRENT
	Pending  int64 // AWSPENDING
	Previous int64 // AWSPREVIOUS
	Other    int64 // any other label, or a version read by ID
}

// Total returns the sum of the counts.
func (s StageCounts) Total() int64 { return s.Current + s.Pending + s.Previous + s.Other }

// LoginStats counts what a client's logins cost since it was made: how often the database
// rejected a version, how often another label rescued a login, and how the client waited.
type LoginStats struct {
	Connects  int64       // logins that ended with a connection (after any number of attempts)
	Failures  int64       // logins given up, each returned as a *ConnectError
	Logins    int64       // login attempts, successful or not
	Rejected  StageCounts // attempts the database rejected as wrong credentials, by the label the version held
	Fallbacks StageCounts // logins that worked with a version other than the AWSCURRENT the client knew, by label
	Rereads   StageCounts // Source.Reread calls after a rejected login, by label asked (the source coalesces them)
	Retries   int64       // waits before another round of attempts (transient failures and the lockout gate)
	Withheld  int64       // rounds given up without a login because every version had just been rejected
}
