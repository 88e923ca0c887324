package rotasafe

import (
	"fmt"
	"log/slog"
	"strings"
)

// shown is one field of a type that holds a secret, as its String and LogValue may print it:
// as label:value in String (left out when label is ""), and as key=value in LogValue (left out
// when key is ""). value is a string (printed quoted), an int or a []string.
type shown struct {
	label, key string
	value      any
}

// redactedView is what a type that holds a secret lets fmt and log/slog see of itself:
// DBSecret, Version and Event each build one and print through it, so that the rules of what
// is printed live in one place.
type redactedView struct {
	typ    string   // the type's name, "rotasafe.DBSecret"
	fields []shown  // the fields that may be printed
	hidden []string // labels of the secret fields that are set, printed as the marker only
	more   int      // how many further fields are unmodelled (and so may be secret)
}

// hide adds label to the secret fields String names, when set.
func (r *redactedView) hide(label string, set bool) {
	if set {
		r.hidden = append(r.hidden, label)
	}
}

// String is "typ{Label:value ... Secret:[REDACTED] +N more fields}".
func (r redactedView) String() string {
	var parts []string
	for _, f := range r.fields {
		if f.label == "" {
			continue
		}
		if s, ok := f.value.(string); ok {
			parts = append(parts, fmt.Sprintf("%s:%q", f.label, s))
		} else {
			parts = append(parts, fmt.Sprintf("%s:%v", f.label, f.value))
		}
	}
	for _, h := range r.hidden {
		parts = append(parts, h+":"+redacted)
	}
	if r.more > 0 {
		parts = append(parts, fmt.Sprintf("+%d more fields", r.more))
	}
	return r.typ + "{" + strings.Join(parts, " ") + "}"
}

// Format writes String for any verb, so that no verb (%v, %+v, %#v, %x, ...) reaches the
// fields of the type; %q quotes it.
func (r redactedView) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", r.String())
		return
	}
	_, _ = f.Write([]byte(r.String()))
}

// LogValue is a group of the fields that have a key.
func (r redactedView) LogValue() slog.Value {
	var attrs []slog.Attr
	for _, f := range r.fields {
		if f.key != "" {
			attrs = append(attrs, slog.Any(f.key, f.value))
		}
	}
	return slog.GroupValue(attrs...)
}
