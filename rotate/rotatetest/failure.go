package rotatetest

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Failure is one broken invariant: the check that found it, the step, the point of the
// check (which rotation, which interruption) and the invariant. Its message never holds a
// value of a secret.
type Failure struct {
	Check     string // the check that found it, as the package comment names them
	Step      string // the rotation step ("setSecret"), or "" when no one step is at fault
	Point     string // where in the check: "rotation 2 of 4", "Secrets Manager call 7 of 18 failed", ...
	Invariant string // the invariant broken, one of the package's Invariant constants
	Detail    string // what the kit saw
}

// Error reads "rotatetest: <check>: <step> at <point>: <invariant>: <detail>".
func (f *Failure) Error() string {
	where := f.Point
	if f.Step != "" {
		where = f.Step + " at " + f.Point
	}
	return fmt.Sprintf("rotatetest: %s: %s: invariant %q broken: %s", f.Check, where, f.Invariant, f.Detail)
}

// The invariants the kit checks, as a Failure names them.
const (
	InvariantStepSucceeds   = "every step succeeds on a healthy service"
	InvariantFinished       = "a finished rotation leaves AWSCURRENT on its version, logging in, and AWSPENDING on no other"
	InvariantPrevious       = "AWSPREVIOUS logs in after a rotation as the scenario says"
	InvariantAlternates     = "an alternating-users rotation moves AWSCURRENT to the other user"
	InvariantOlderRejected  = "the value from two rotations back no longer logs in"
	InvariantNewValue       = "every rotation makes a new value"
	InvariantRepeatable     = "a step may run again and then changes nothing"
	InvariantWorking        = "an interruption leaves a credential under AWSCURRENT or AWSPENDING that logs in"
	InvariantCurrentWorks   = "AWSCURRENT logs in at every moment of a rotation, as the scenario says"
	InvariantResumes        = "a resumed rotation completes"
	InvariantCreateNoChange = "Create leaves the service as it was"
	InvariantTestNoChange   = "Test leaves the service as it was"
	InvariantNoPanic        = "a step returns errors and never panics"
	InvariantNoLeak         = "no value appears in an error, a log line, a panic or what the service lists"
	InvariantSerialised     = "two rotations of one secret at once are serialised or refused cleanly"
)

// needles returns every value the run made or read, in the forms in which a leak shows it,
// each with the version it came from.
func (r *run) needles() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.needleCache...)
}

// collectNeedles reads every version of every secret of the run and keeps the forms of
// their secret parts.
func (r *run) collectNeedles() {
	var values []string
	ids := []string{r.id}
	for name := range r.cfg.Secrets {
		ids = append(ids, name)
	}
	for _, id := range ids {
		for _, v := range r.srv.Versions(id) {
			if !v.HasValue {
				continue
			}
			out, err := r.api.GetSecretValue(r.ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionId: aws.String(v.ID)})
			if err != nil {
				continue
			}
			values = append(values, r.cfg.Values(aws.ToString(out.SecretString))...)
		}
	}
	var ns []string
	for _, v := range values {
		if len(v) < 6 { // too short to tell a leak from a coincidence
			continue
		}
		ns = append(ns, forms(v)...)
	}
	r.mu.Lock()
	r.needleCache = ns
	r.mu.Unlock()
}

// forms returns v as it appears in text: itself, JSON- and URL-escaped, base64 and hex.
func forms(v string) []string {
	b := []byte(v)
	j, _ := json.Marshal(v)
	h := hex.EncodeToString(b)
	out := []string{v, string(j[1 : len(j)-1]), url.QueryEscape(v), url.PathEscape(v),
		base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b), h, strings.ToUpper(h)}
	return out
}

var stepAttr = regexp.MustCompile(`\bstep=(\S+)`)

// leaks checks every error a step returned and every line of the handler's log for a value.
func (r *run) leaks() []error {
	r.collectNeedles()
	ns := r.needles()
	holds := func(s string) bool {
		for _, n := range ns {
			if strings.Contains(s, n) {
				return true
			}
		}
		return false
	}
	const check = "no values in errors or logs"
	var out []error
	r.mu.Lock()
	errs := append([]stepError(nil), r.errs...)
	r.mu.Unlock()
	for _, e := range errs {
		if holds(e.msg) {
			out = append(out, &Failure{Check: check, Step: e.step, Point: e.point + " (in check " + e.check + ")", Invariant: InvariantNoLeak,
				Detail: "the error the step returned holds a value of a secret"})
			break
		}
	}
	r.mu.Lock()
	listed := slices.Sorted(maps.Keys(r.listed))
	r.mu.Unlock()
	for _, l := range listed {
		if holds(l) {
			out = append(out, &Failure{Check: check, Point: "what the service accepts (Config.Accepted)", Invariant: InvariantNoLeak,
				Detail: "an entry the service lists holds a value of a secret: the service keeps or shows a credential in plaintext"})
			break
		}
	}
	for line := range strings.Lines(r.log.String()) {
		if holds(line) {
			step := ""
			if m := stepAttr.FindStringSubmatch(line); m != nil {
				step = m[1]
			}
			out = append(out, &Failure{Check: check, Step: step, Point: "the handler's log", Invariant: InvariantNoLeak,
				Detail: "a line of the handler's log holds a value of a secret"})
			break
		}
	}
	return out
}
