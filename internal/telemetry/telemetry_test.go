package telemetry

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/notice"
)

const (
	cacheScope  = "github.com/rotasafe/rotasafe/cache"
	loginScope  = "github.com/rotasafe/rotasafe/login"
	rotateScope = "github.com/rotasafe/rotasafe/rotate"
	secret      = "app/db"
)

func TestCache(t *testing.T) {
	t.Parallel()
	mp, r := newProvider(t)
	ctx := t.Context()
	c := NewCache(mp, cacheScope)
	pending := c.Entry(secret, rotasafe.StagePending)
	pending.Read(ctx, ReadOK, 250*time.Millisecond)
	pending.Read(ctx, ReadThrottled, 2*time.Second)
	pending.Read(ctx, ReadOutcome(200), 500*time.Millisecond) // out of range: error
	custom := c.Entry(secret, "MYLABEL")
	custom.Read(ctx, ReadNotFound, 250*time.Millisecond)
	custom.StaleServed(ctx)
	pending.StaleServed(ctx)
	c.NoticeReceived(ctx, secret, notice.Finished)
	c.NoticeReceived(ctx, secret, notice.Kind("made-up"))
	c.NoticeReceived(ctx, secret, notice.PasswordChanging)
	var hits, misses uint64 = 7, 3
	stop := c.ObserveHits(func() (uint64, uint64) { return hits, misses })

	got := collect(t, r, cacheScope)
	s, pend, other := KeySecret.String(secret), KeyStage.String("AWSPENDING"), KeyStage.String("other")
	out := KeyOutcome.String
	assertMetric(t, got, metricdata.Metrics{
		Name: "rotasafe.cache.reads", Unit: "{read}", Description: "GetSecretValue calls the cache made, by stage asked for and outcome.",
		Data: sum(point(1, s, pend, out("ok")), point(1, s, pend, out("throttled")), point(1, s, pend, out("error")),
			point(1, s, other, out("not_found"))),
	})
	assertMetric(t, got, metricdata.Metrics{
		Name: "rotasafe.cache.read.duration", Unit: "s", Description: "How long the cache's GetSecretValue calls took, the SDK's retries included.",
		Data: hist(hpoint(readBuckets, []float64{0.25, 2, 0.5}, s, pend), hpoint(readBuckets, []float64{0.25}, s, other)),
	})
	assertMetric(t, got, metricdata.Metrics{
		Name: "rotasafe.cache.stale_served", Unit: "{read}", Description: "Reads answered with a version past its TTL because Secrets Manager failed.",
		Data: sum(point(2, s)),
	})
	assertMetric(t, got, metricdata.Metrics{
		Name: "rotasafe.notices.received", Unit: "{notice}", Description: "Rotation notices the cache received and acted on.",
		Data: sum(point(1, s, KeyNoticeKind.String("finished")), point(1, s, KeyNoticeKind.String("other")),
			point(1, s, KeyNoticeKind.String("password-changing"))),
	})
	assertMetric(t, got, metricdata.Metrics{
		Name: "rotasafe.cache.hits", Unit: "{read}", Description: "Reads answered from the cache without waiting for Secrets Manager.",
		Data: sum(point(7)),
	})
	assertMetric(t, got, metricdata.Metrics{
		Name: "rotasafe.cache.misses", Unit: "{read}", Description: "Reads that waited for a GetSecretValue call.",
		Data: sum(point(3)),
	})

	// The callback reads the counters at each collection, and stops when told.
	hits, misses = 9, 4
	got = collect(t, r, cacheScope)
	assertMetric(t, got, metricdata.Metrics{
		Name: "rotasafe.cache.hits", Unit: "{read}", Description: "Reads answered from the cache without waiting for Secrets Manager.",
		Data: sum(point(9)),
	})
	stop()
	got = collect(t, r, cacheScope)
	for _, name := range []string{"rotasafe.cache.hits", "rotasafe.cache.misses"} {
		if m, ok := got[name]; ok && len(m.Data.(metricdata.Sum[int64]).DataPoints) > 0 {
			t.Errorf("%s observed after stop: %+v", name, m.Data)
		}
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	mp, r := newProvider(t)
	ctx := t.Context()
	l := NewLogin(mp, loginScope)
	sql := l.For("sqlconn", secret)
	sql.Attempt(ctx, rotasafe.StageCurrent, LoginRejected, 250*time.Millisecond)
	sql.Attempt(ctx, rotasafe.StagePending, LoginOK, 500*time.Millisecond)
	sql.Attempt(ctx, rotasafe.StagePrevious, LoginTransient, 2*time.Second)
	sql.Attempt(ctx, "", LoginOutcome(9), 250*time.Millisecond) // no stage, out of range: other, other
	l.For("redisconn", secret).Attempt(ctx, rotasafe.StageCurrent, LoginOK, 250*time.Millisecond)

	got := collect(t, r, loginScope)
	s, sc, rc := KeySecret.String(secret), KeyClient.String("sqlconn"), KeyClient.String("redisconn")
	st, out := KeyStage.String, KeyOutcome.String
	assertMetric(t, got, metricdata.Metrics{
		Name: "rotasafe.login.attempts", Unit: "{attempt}", Description: "Login attempts, by client, the stage of the version tried, and outcome.",
		Data: sum(
			point(1, s, sc, st("AWSCURRENT"), out("rejected")),
			point(1, s, sc, st("AWSPENDING"), out("ok")),
			point(1, s, sc, st("AWSPREVIOUS"), out("transient")),
			point(1, s, sc, st("other"), out("other")),
			point(1, s, rc, st("AWSCURRENT"), out("ok")),
		),
	})
	assertMetric(t, got, metricdata.Metrics{
		Name: "rotasafe.login.duration", Unit: "s", Description: "How long one login attempt took, by client and outcome.",
		Data: hist(
			hpoint(loginBuckets, []float64{0.25}, s, sc, out("rejected")),
			hpoint(loginBuckets, []float64{0.5}, s, sc, out("ok")),
			hpoint(loginBuckets, []float64{2}, s, sc, out("transient")),
			hpoint(loginBuckets, []float64{0.25}, s, sc, out("other")),
			hpoint(loginBuckets, []float64{0.25}, s, rc, out("ok")),
		),
	})
}

func TestLoginOutcomeOf(t *testing.T) {
	t.Parallel()
	failed := errors.New("failed")
	for _, c := range []struct {
		err   error
		class rotasafe.Class
		want  LoginOutcome
	}{
		{nil, rotasafe.ClassAuth, LoginOK},
		{failed, rotasafe.ClassAuth, LoginRejected},
		{failed, rotasafe.ClassTransient, LoginTransient},
		{failed, rotasafe.ClassOther, LoginOther},
		{failed, rotasafe.Class(42), LoginOther},
	} {
		if got := LoginOutcomeOf(c.err, c.class); got != c.want {
			t.Errorf("LoginOutcomeOf(%v, %v) = %v, want %v", c.err, c.class, got, c.want)
		}
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	mp, r := newProvider(t)
	ctx := t.Context()
	rot := NewRotation(mp, rotateScope)
	for _, step := range []string{rotasafe.StepCreateSecret, rotasafe.StepSetSecret, rotasafe.StepTestSecret, rotasafe.StepFinishSecret} {
		rot.Step(ctx, secret, step, nil, 250*time.Millisecond)
	}
	rot.Step(ctx, secret, rotasafe.StepSetSecret, errors.New("refused"), 2*time.Second)
	rot.Step(ctx, secret, "dropSecret", nil, 250*time.Millisecond)
	rot.NoticePublished(ctx, secret, notice.PendingStored)
	rot.NoticePublished(ctx, secret, notice.PendingStored)
	rot.NoticePublished(ctx, secret, notice.PasswordChanged)

	got := collect(t, r, rotateScope)
	s, step, out := KeySecret.String(secret), KeyStep.String, KeyOutcome.String
	assertMetric(t, got, metricdata.Metrics{
		Name: "rotasafe.rotation.steps", Unit: "{step}", Description: "Rotation steps the handler ran, by step and outcome.",
		Data: sum(
			point(1, s, step("createSecret"), out("ok")),
			point(1, s, step("setSecret"), out("ok")),
			point(1, s, step("setSecret"), out("error")),
			point(1, s, step("testSecret"), out("ok")),
			point(1, s, step("finishSecret"), out("ok")),
			point(1, s, step("other"), out("ok")),
		),
	})
	assertMetric(t, got, metricdata.Metrics{
		Name: "rotasafe.rotation.step.duration", Unit: "s", Description: "How long each rotation step took, by step.",
		Data: hist(
			hpoint(stepBuckets, []float64{0.25}, s, step("createSecret")),
			hpoint(stepBuckets, []float64{0.25, 2}, s, step("setSecret")),
			hpoint(stepBuckets, []float64{0.25}, s, step("testSecret")),
			hpoint(stepBuckets, []float64{0.25}, s, step("finishSecret")),
			hpoint(stepBuckets, []float64{0.25}, s, step("other")),
		),
	})
	assertMetric(t, got, metricdata.Metrics{
		Name: "rotasafe.notices.published", Unit: "{notice}", Description: "Rotation notices the handler published.",
		Data: sum(point(2, s, KeyNoticeKind.String("pending-stored")), point(1, s, KeyNoticeKind.String("password-changed"))),
	})
}

// TestBoundedAttributes records with every input a caller could pass and checks that each
// attribute value is the secret, the client, or one of its key's fixed values: whatever a
// caller's labels, steps, kinds or outcomes, no other value (a version ID, a user, a host)
// can become an attribute, and the series stay bounded.
func TestBoundedAttributes(t *testing.T) {
	t.Parallel()
	mp, r := newProvider(t)
	ctx := t.Context()
	inputs := []string{rotasafe.StageCurrent, rotasafe.StagePending, rotasafe.StagePrevious, "",
		"3f1c7a2e-version-id", "app_user", "db.example.com:5432", "hunter2",
		rotasafe.StepCreateSecret, rotasafe.StepSetSecret, rotasafe.StepTestSecret, rotasafe.StepFinishSecret,
		string(notice.PendingStored), string(notice.PasswordChanged), string(notice.Finished)}
	c, l, rot := NewCache(mp, "scope"), NewLogin(mp, "scope"), NewRotation(mp, "scope")
	c.ObserveHits(func() (uint64, uint64) { return 1, 1 })
	rec := l.For("sqlconn", secret)
	for i, in := range inputs {
		e := c.Entry(secret, in)
		e.Read(ctx, ReadOutcome(i), time.Millisecond)
		e.StaleServed(ctx)
		c.NoticeReceived(ctx, secret, notice.Kind(in))
		rec.Attempt(ctx, in, LoginOutcome(i), time.Millisecond)
		rot.Step(ctx, secret, in, nil, time.Millisecond)
		rot.NoticePublished(ctx, secret, notice.Kind(in))
	}

	allowed := map[attribute.Key][]string{
		KeySecret:     {secret},
		KeyClient:     {"sqlconn"},
		KeyStage:      {"AWSCURRENT", "AWSPENDING", "AWSPREVIOUS", "other"},
		KeyStep:       {"createSecret", "setSecret", "testSecret", "finishSecret", "other"},
		KeyNoticeKind: {"pending-stored", "password-changing", "password-changed", "finished", "other"},
		KeyOutcome:    {"ok", "not_found", "throttled", "error", "rejected", "transient", "other"},
	}
	var seen int
	for name, m := range collect(t, r, "scope") {
		for _, set := range attributeSets(m.Data) {
			hasSecret := false
			for _, kv := range set.ToSlice() {
				seen++
				hasSecret = hasSecret || kv.Key == KeySecret
				if !slices.Contains(allowed[kv.Key], kv.Value.String()) {
					t.Errorf("%s: attribute %s=%q is not one of %q", name, kv.Key, kv.Value.String(), allowed[kv.Key])
				}
			}
			if !hasSecret && name != "rotasafe.cache.hits" && name != "rotasafe.cache.misses" {
				t.Errorf("%s: data point without %s: %v", name, KeySecret, set.ToSlice())
			}
		}
	}
	if seen == 0 {
		t.Fatal("no attributes collected")
	}
}

// attributeSets returns the attribute sets of data's points.
func attributeSets(data metricdata.Aggregation) []attribute.Set {
	var sets []attribute.Set
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	}
	return sets
}

// TestGlobalProvider checks that a nil MeterProvider means the global one, also for
// instruments made before the application installs its provider (OpenTelemetry hands them
// over). It sets the global provider, so it does not run in parallel, and it is the only
// test that does.
func TestGlobalProvider(t *testing.T) {
	early := NewLogin(nil, loginScope).For("sqlconn", secret)
	mp, r := newProvider(t)
	otel.SetMeterProvider(mp)
	t.Cleanup(func() { otel.SetMeterProvider(noop.NewMeterProvider()) })
	late := NewLogin(nil, loginScope).For("sqlconn", secret)
	early.Attempt(t.Context(), rotasafe.StageCurrent, LoginOK, time.Millisecond)
	late.Attempt(t.Context(), rotasafe.StageCurrent, LoginOK, time.Millisecond)

	got := collect(t, r, loginScope)
	assertMetric(t, got, metricdata.Metrics{
		Name: "rotasafe.login.attempts", Unit: "{attempt}", Description: "Login attempts, by client, the stage of the version tried, and outcome.",
		Data: sum(point(2, KeySecret.String(secret), KeyClient.String("sqlconn"), KeyStage.String("AWSCURRENT"), KeyOutcome.String("ok"))),
	})
}

// TestRecordingDoesNotAllocate checks the recorders on a hot path against an SDK provider:
// their attribute sets are computed once, so recording allocates nothing.
func TestRecordingDoesNotAllocate(t *testing.T) {
	mp, _ := newProvider(t)
	ctx := context.Background()
	rec := NewLogin(mp, loginScope).For("sqlconn", secret)
	e := NewCache(mp, cacheScope).Entry(secret, rotasafe.StageCurrent)
	// The first recording of each series makes it; measure the ones after.
	rec.Attempt(ctx, rotasafe.StagePending, LoginRejected, time.Millisecond)
	e.Read(ctx, ReadOK, time.Millisecond)
	e.StaleServed(ctx)
	for name, f := range map[string]func(){
		"LoginRecorder.Attempt":  func() { rec.Attempt(ctx, rotasafe.StagePending, LoginRejected, time.Millisecond) },
		"CacheEntry.Read":        func() { e.Read(ctx, ReadOK, time.Millisecond) },
		"CacheEntry.StaleServed": func() { e.StaleServed(ctx) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}
