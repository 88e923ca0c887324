package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/rotasafe/rotasafe"
)

// LoginOutcome is how one login attempt ended, the KeyOutcome of the login instruments.
type LoginOutcome uint8

// The outcomes of a login attempt.
const (
	LoginOK        LoginOutcome = iota // the service took the credentials
	LoginRejected                      // the service rejected them (rotasafe.ClassAuth)
	LoginTransient                     // a failure that may pass by itself (rotasafe.ClassTransient)
	LoginOther                         // any other failure (rotasafe.ClassOther)
	numLoginOutcomes
)

var loginOutcomes = [numLoginOutcomes]string{"ok", "rejected", "transient", "other"}

// String returns the outcome's attribute value.
func (o LoginOutcome) String() string { return loginOutcomes[min(o, LoginOther)] }

// LoginOutcomeOf returns the outcome of an attempt that returned err, classified as class.
func LoginOutcomeOf(err error, class rotasafe.Class) LoginOutcome {
	switch {
	case err == nil:
		return LoginOK
	case class == rotasafe.ClassAuth:
		return LoginRejected
	case class == rotasafe.ClassTransient:
		return LoginTransient
	}
	return LoginOther
}

// Login holds the login instruments:
//
//	rotasafe.login.attempts  {attempt}  secret, client, stage, outcome
//	rotasafe.login.duration  s          secret, client, outcome
//
// It is safe for concurrent use.
type Login struct {
	attempts metric.Int64Counter
	duration metric.Float64Histogram
}

// NewLogin returns the login instruments, made by mp's meter for scope (the login package's
// import path); nil mp means the global MeterProvider.
func NewLogin(mp metric.MeterProvider, scope string) *Login {
	m := meter(mp, scope)
	return &Login{
		attempts: counter(m, "rotasafe.login.attempts", "{attempt}",
			"Login attempts, by client, the stage of the version tried, and outcome."),
		duration: histogram(m, "rotasafe.login.duration", "How long one login attempt took, by client and outcome.", loginBuckets),
	}
}

// For returns the recorder of the logins client makes with secret. Make it once per client
// and secret: it computes its attribute sets now, so that recording allocates nothing.
func (l *Login) For(client, secret string) *LoginRecorder {
	s, c := KeySecret.String(secret), KeyClient.String(client)
	r := &LoginRecorder{l: l}
	for o := range numLoginOutcomes {
		out := KeyOutcome.String(o.String())
		r.duration[o] = []metric.RecordOption{set(s, c, out)}
		for st := range numStages {
			r.attempts[st][o] = []metric.AddOption{set(s, c, KeyStage.String(stages[st]), out)}
		}
	}
	return r
}

// LoginRecorder records the login attempts of one client with one secret. It is safe for
// concurrent use.
type LoginRecorder struct {
	l        *Login
	attempts [numStages][numLoginOutcomes][]metric.AddOption
	duration [numLoginOutcomes][]metric.RecordOption
}

// Attempt records one login attempt with a version that held stage (any staging label;
// labels but the three AWS ones count as "other"), which ended with o after d.
func (r *LoginRecorder) Attempt(ctx context.Context, stage string, o LoginOutcome, d time.Duration) {
	o = min(o, LoginOther)
	r.l.attempts.Add(ctx, 1, r.attempts[stageIndex(stage)][o]...)
	r.l.duration.Record(ctx, d.Seconds(), r.duration[o]...)
}

// Rejected records one rejected attempt with a version that held stage, made outside the
// walk (a go-redis login that Recover takes over): counted in rotasafe.login.attempts, but
// not in rotasafe.login.duration, since the walk did not see it run.
func (r *LoginRecorder) Rejected(ctx context.Context, stage string) {
	r.l.attempts.Add(ctx, 1, r.attempts[stageIndex(stage)][LoginRejected]...)
}
