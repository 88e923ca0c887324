// Package telemetry is rotasafe's OpenTelemetry instrumentation: the rotasafe.* instruments,
// their attribute keys, and the small typed recorders that cache, login and rotate call. It
// uses OpenTelemetry's metric API only, which records nothing until the application installs
// a MeterProvider; the SDK and exporters belong to the application.
//
//	m := telemetry.NewLogin(mp, "github.com/rotasafe/rotasafe/login") // nil mp: the global provider
//	rec := m.For("sqlconn", secretID)                                 // once per client and secret
//	rec.Attempt(ctx, v.Stage(), telemetry.LoginRejected, time.Since(start))
//
// Attribute values are the secret ID as the caller gave it, the client's name, and values
// from fixed sets (stage, outcome, step, notice kind): never a secret value, a version ID, a
// user name or a host, so the number of series stays bounded however many rotations run.
// Recorders precompute their attribute sets, so that recording allocates nothing.
package telemetry

import (
	"runtime/debug"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/rotasafe/rotasafe"
)

// The attribute keys. Every instrument carries KeySecret; the others as each instrument's
// documentation says.
const (
	KeySecret     = attribute.Key("rotasafe.secret")      // the secret ID as the caller gave it
	KeyStage      = attribute.Key("rotasafe.stage")       // AWSCURRENT, AWSPENDING, AWSPREVIOUS or other
	KeyOutcome    = attribute.Key("rotasafe.outcome")     // per instrument, from a fixed set
	KeyClient     = attribute.Key("rotasafe.client")      // sqlconn, pgxpoolconn, redisconn, or a custom client's name
	KeyStep       = attribute.Key("rotasafe.step")        // createSecret, setSecret, testSecret, finishSecret or other
	KeyNoticeKind = attribute.Key("rotasafe.notice.kind") // pending-stored, password-changing, password-changed, finished or other
)

// module is the import path whose version names the instrumentation scopes' version.
const module = "github.com/rotasafe/rotasafe"

// meter returns the meter of scope (the calling package's import path) from mp, or from the
// global MeterProvider when mp is nil. The global provider is read now: instruments made from
// it before the application installs its own are handed over to it when it does.
func meter(mp metric.MeterProvider, scope string) metric.Meter {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(scope, metric.WithInstrumentationVersion(version()))
}

// version is the module's version in the running binary, "" when unknown (a test or a
// build from a work tree).
var version = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	m := &bi.Main
	for _, d := range bi.Deps {
		if d.Path == module {
			m = d
		}
	}
	if m.Path != module || m.Version == "(devel)" {
		return ""
	}
	return m.Version
})

// stages are the values of KeyStage, indexed by stageIndex.
var stages = [...]string{rotasafe.StageCurrent, rotasafe.StagePending, rotasafe.StagePrevious, "other"}

const numStages = len(stages)

// stageIndex returns the index in stages of a staging label: any label but the three AWS
// ones is "other", so that a caller's own labels cannot grow the number of series.
func stageIndex(label string) int {
	switch label {
	case rotasafe.StageCurrent:
		return 0
	case rotasafe.StagePending:
		return 1
	case rotasafe.StagePrevious:
		return 2
	}
	return 3
}

// set returns a measurement option carrying kvs, computed once.
func set(kvs ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(kvs...))
}
