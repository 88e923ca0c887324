package notice

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Kind says what a rotation step did.
type Kind string

// The kinds a rotation handler publishes, in the order a rotation produces them.
const (
	// PendingStored: createSecret stored the value of the version under AWSPENDING. The
	// database does not accept it yet; a listener may fetch it ahead of need, at a random
	// moment within the notice's Lead when it has one.
	PendingStored Kind = "pending-stored"
	// PasswordChanging: setSecret is about to make the database accept the version, and the
	// old password is about to stop working (rotate.WithNoticeLead). A listener that has read
	// the version may hold new logins until PasswordChanged, for a bounded time.
	PasswordChanging Kind = "password-changing"
	// PasswordChanged: setSecret made the database accept the version. For a single-user
	// rotation the old password stops working now; AWSCURRENT has not moved yet.
	PasswordChanged Kind = "password-changed"
	// Finished: finishSecret moved AWSCURRENT to the version.
	Finished Kind = "finished"
)

// Limits on the fields of a Notice, from Secrets Manager's own: an ARN is at most 2048
// characters, a version ID (a ClientRequestToken) at most 64.
const (
	maxARN     = 2048
	maxVersion = 64
)

// Notice says that one step of a rotation of one secret took effect. It names the secret by
// its ARN and the version the rotation creates, never a value, a username or a token, so it
// is safe to print, log and send over a shared channel. A Notice is a hint: a listener uses it
// to try the right version sooner, and checks everything it implies against Secrets Manager
// and the database.
type Notice struct {
	SecretARN string    // the full ARN of the secret
	VersionID string    // the version the rotation creates (its ClientRequestToken)
	Kind      Kind      // what the step did
	At        time.Time // when the publisher saw the step end, by its clock; may be zero
	// Lead, on a PendingStored notice, is how long the rotator waits before it changes the
	// password (rotate.WithNoticeLead): listeners spread their reads of the version over it.
	// Zero: no lead announced (a rotator that does not wait). Whole milliseconds on the wire.
	Lead time.Duration
}

// MaxLead is the longest Lead a Notice may carry: a rotation function's step runs at most
// 15 minutes (Lambda's limit).
const MaxLead = 15 * time.Minute

// Error says what is wrong with a Notice or its wire form. It names the field and the
// reason, never the field's value beyond a kind name made of letters and dashes.
type Error struct {
	Field  string // the wire name of the field ("v", "kind", "secret", "version", "at", "lead_ms"), or empty for the whole notice
	Reason string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "notice: " + e.Reason
	}
	return fmt.Sprintf("notice: field %q %s", e.Field, e.Reason)
}

// Validate checks that n names a secret ARN, a version ID and a known kind, each within
// Secrets Manager's limits and made of printable ASCII.
func (n Notice) Validate() error {
	if err := checkID("secret", n.SecretARN, maxARN); err != nil {
		return err
	}
	if !strings.HasPrefix(n.SecretARN, "arn:") || strings.Count(n.SecretARN, ":") < 5 {
		return &Error{Field: "secret", Reason: "is not an ARN (arn:partition:service:region:account:resource)"}
	}
	if err := checkID("version", n.VersionID, maxVersion); err != nil {
		return err
	}
	switch {
	case !n.At.IsZero() && (n.At.UTC().Year() < 1 || n.At.UTC().Year() > 9999):
		return &Error{Field: "at", Reason: "is outside the years 1 to 9999"}
	case n.Lead < 0 || n.Lead > MaxLead:
		return &Error{Field: "lead_ms", Reason: fmt.Sprintf("is outside 0 to %v", MaxLead)}
	}
	switch n.Kind {
	case PendingStored, PasswordChanging, PasswordChanged, Finished:
		return nil
	case "":
		return &Error{Field: "kind", Reason: "is missing"}
	}
	if len(n.Kind) <= 32 && !strings.ContainsFunc(string(n.Kind), func(r rune) bool { return (r < 'a' || r > 'z') && r != '-' }) {
		return &Error{Field: "kind", Reason: fmt.Sprintf("%q is not one of pending-stored, password-changing, password-changed, finished", string(n.Kind))}
	}
	return &Error{Field: "kind", Reason: "is not a notice kind"}
}

// printable reports whether s is made of printable ASCII other than space.
func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' })
}

// checkID checks the identifier in field: present, at most max bytes, printable ASCII.
func checkID(field, id string, max int) error {
	switch {
	case id == "":
		return &Error{Field: field, Reason: "is missing"}
	case len(id) > max:
		return &Error{Field: field, Reason: fmt.Sprintf("is longer than %d bytes", max)}
	case !printable(id):
		return &Error{Field: field, Reason: "holds a character that is not printable ASCII"}
	}
	return nil
}

// String describes the notice on one line.
func (n Notice) String() string {
	if n.Lead > 0 {
		return fmt.Sprintf("notice.Notice{Kind:%q SecretARN:%q VersionID:%q Lead:%v}", string(n.Kind), n.SecretARN, n.VersionID, n.Lead)
	}
	return fmt.Sprintf("notice.Notice{Kind:%q SecretARN:%q VersionID:%q}", string(n.Kind), n.SecretARN, n.VersionID)
}

// LogValue makes log/slog print the notice as a group.
func (n Notice) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("kind", string(n.Kind)),
		slog.String("secret", n.SecretARN),
		slog.String("version", n.VersionID),
	}
	if n.Lead > 0 {
		attrs = append(attrs, slog.Duration("lead", n.Lead))
	}
	return slog.GroupValue(attrs...)
}
