package login_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/retry"
	"github.com/rotasafe/rotasafe/smtest"
)

const id = "app/db"

var errRejected = errors.New("password authentication failed (28P01)")

// env is a real Secrets Manager (smtest, the real SDK client), a real cache, and a stand-in
// database that takes one password at a time: the secret's value is the password.
type env struct {
	t      *testing.T
	sm     *smtest.Server
	api    *secretsmanager.Client
	c      *cache.Cache
	mu     sync.Mutex
	pw     string         // the password the database takes
	logins map[string]int // login attempts by password
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, sm: smtest.New(t), logins: map[string]int{}}
	e.api = e.sm.Client()
	e.c = cache.New(e.api, cache.WithMinRefreshInterval(time.Hour))
	t.Cleanup(func() { e.c.Close() })
	e.pw = "pw-1"
	if _, err := e.api.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String("pw-1")}); err != nil {
		t.Fatal(err)
	}
	return e
}

// walker returns a Walker of the secret on the env's cache, with a short retry policy
// unless opts set one; walkerOn the same on src.
func (e *env) walker(opts ...login.Option) *login.Walker {
	return e.walkerOn(e.c, opts...)
}

func (e *env) walkerOn(src rotasafe.Source, opts ...login.Option) *login.Walker {
	p := retry.Policy{Initial: time.Millisecond, Max: 10 * time.Millisecond, MaxElapsed: 200 * time.Millisecond}
	opts = append([]login.Option{login.WithClient("test"), login.WithRetry(p)}, opts...)
	return login.New(src, id, opts...)
}

// try logs in to the stand-in database with v's value.
func (e *env) try(_ context.Context, v rotasafe.Version) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.logins[v.SecretString]++
	if v.SecretString != e.pw {
		return login.Rejected(errRejected)
	}
	return nil
}

func (e *env) setPassword(pw string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pw = pw
}

// setPending stores pw as a new AWSPENDING version and makes the database take it instead of
// the password before, as a rotation's setSecret leaves them; it returns the version's ID.
func (e *env) setPending(pw string) string {
	e.t.Helper()
	v := e.put(pw, rotasafe.StagePending)
	e.setPassword(pw)
	return v
}

func (e *env) put(value string, stages ...string) string {
	e.t.Helper()
	out, err := e.api.PutSecretValue(e.t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(value), VersionStages: stages})
	if err != nil {
		e.t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

func (e *env) promote(versionID string) {
	e.t.Helper()
	if err := rotasafe.Promote(e.t.Context(), e.api, id, versionID); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) mustLogin(w *login.Walker, want string) {
	e.t.Helper()
	v, err := w.Login(e.t.Context(), e.try)
	if err != nil {
		e.t.Fatalf("Login: %v", err)
	}
	if v.SecretString != want {
		e.t.Fatalf("Login used %q, want %q", v.SecretString, want)
	}
}

// TestRotationCostsOneRead walks a single-user rotation in AWS's order: the rejected
// AWSCURRENT costs one read of AWSPENDING, which then sticks with no more reads.
func TestRotationCostsOneRead(t *testing.T) {
	e := newEnv(t)
	w := e.walker()
	e.mustLogin(w, "pw-1")
	reads := e.c.Stats().Reads

	v2 := e.put("pw-2", rotasafe.StagePending) // createSecret
	e.mustLogin(w, "pw-1")                     // the database still takes pw-1
	e.setPassword("pw-2")                      // setSecret
	e.mustLogin(w, "pw-2")                     // pw-1 rejected, AWSPENDING read and used
	e.mustLogin(w, "pw-2")                     // sticky: no rejection, no read
	e.promote(v2)                              // finishSecret
	e.mustLogin(w, "pw-2")

	got := e.c.Stats().Reads
	if d := got.Total() - reads.Total(); d != 1 || got.Pending-reads.Pending != 1 {
		t.Errorf("reads for the rotation: %+v (before %+v), want one of AWSPENDING", got, reads)
	}
	st := w.Stats()
	want := rotasafe.LoginStats{Connects: 5, Logins: 6, Rejected: rotasafe.StageCounts{Current: 1},
		Fallbacks: rotasafe.StageCounts{Pending: 1}, Rereads: rotasafe.StageCounts{Pending: 1}}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}

// TestAfterFinishOneReadMovesCurrent: an instance that missed the window finds its cached
// AWSCURRENT rejected after finishSecret; the AWSPENDING answer carries AWSCURRENT, so one
// read both logs it in and moves the cache's AWSCURRENT.
func TestAfterFinishOneReadMovesCurrent(t *testing.T) {
	e := newEnv(t)
	w := e.walker()
	e.mustLogin(w, "pw-1")
	v2 := e.setPending("pw-2")
	e.promote(v2)
	calls := e.sm.Calls("GetSecretValue")

	e.mustLogin(w, "pw-2")
	if n := e.sm.Calls("GetSecretValue") - calls; n != 1 {
		t.Errorf("GetSecretValue calls after finishSecret: %d, want 1", n)
	}
	if cur, err := e.c.Get(t.Context(), id); err != nil || cur.ID != v2 {
		t.Errorf("cached AWSCURRENT: %v, %v; want %s", cur, err, v2)
	}
	if st := w.Stats(); st.Rereads.Current != 0 || st.Fallbacks.Total() != 0 {
		t.Errorf("stats %+v: want no AWSCURRENT read and no fallback (the version that worked is AWSCURRENT)", st)
	}
}

// TestNothingNewerThenPrevious: after a rollback only AWSPREVIOUS logs in; it is read only
// after AWSPENDING and AWSCURRENT had nothing newer.
func TestNothingNewerThenPrevious(t *testing.T) {
	e := newEnv(t)
	w := e.walker()
	e.put("pw-2") // AWSCURRENT moves to v2, AWSPREVIOUS to v1
	e.setPassword("pw-2")
	e.mustLogin(w, "pw-2")
	e.setPassword("pw-1") // the database was rolled back

	e.mustLogin(w, "pw-1")
	st := w.Stats()
	if st.Fallbacks.Previous != 1 || st.Rereads.Previous != 1 {
		t.Errorf("stats %+v, want one read of AWSPREVIOUS and a fallback to it", st)
	}
}

// TestWrongCredentials: no label logs in. The login ends within the policy's bound with a
// ConnectError that names the secret and the version and wraps the driver's error; the
// gate withholds rounds; reads stay bounded by labels, not by attempts.
func TestWrongCredentials(t *testing.T) {
	e := newEnv(t)
	e.setPassword("a password no version holds")
	w := e.walker()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			_, err := w.Login(t.Context(), e.try)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		ce, ok := errors.AsType[*rotasafe.ConnectError](err)
		// A login the gate turns away before it tries anything has no attempts of its own
		// (on a slow machine the policy's bound comes first); it still wraps the rejection.
		if !ok || !errors.Is(err, errRejected) || !strings.Contains(err.Error(), id) || (len(ce.Attempts) > 0 && ce.Attempts[0].Class != rotasafe.ClassAuth) {
			t.Fatalf("got %v, want a ConnectError naming %s and wrapping the rejection", err, id)
		}
	}
	// AWSPENDING and AWSPREVIOUS are absent and AWSCURRENT is the rejected version: one read
	// of each label for the rejected version, shared by every login (the floor is an hour).
	if n := e.sm.Calls("GetSecretValue"); n > 4 {
		t.Errorf("GetSecretValue calls: %d, want at most 4 (AWSCURRENT once, then one per label); cache reads by label %+v, walk stats %+v",
			n, e.c.Stats().Reads, w.Stats())
	}
	if st := w.Stats(); st.Failures != 16 || st.Withheld == 0 {
		t.Errorf("stats %+v, want 16 failures and withheld rounds", st)
	}
}

// TestDeadlineDuringLoginKeepsRejection: when the caller's deadline cuts a login short, the
// error still carries what the service said last (the rejection) as well as the deadline, so
// errors.As finds the driver's error whichever attempt the deadline interrupted.
func TestDeadlineDuringLoginKeepsRejection(t *testing.T) {
	e := newEnv(t)
	e.setPassword("a password no version holds")
	w := e.walker(login.WithRetry(retry.Policy{Initial: time.Millisecond, Max: time.Millisecond}))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	_, err := w.Login(ctx, func(ctx context.Context, v rotasafe.Version) error {
		if n++; n < 4 {
			return e.try(ctx, v)
		}
		cancel() // the caller gives up while this attempt waits on the service
		<-ctx.Done()
		return login.Transient(ctx.Err())
	})
	if !errors.Is(err, errRejected) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want it to match both the last rejection and context.Canceled", err)
	}
}

// TestUnusableVersionIsSkipped: a pending version that cannot be used does not stop the walk.
func TestUnusableVersionIsSkipped(t *testing.T) {
	e := newEnv(t)
	w := e.walker()
	e.mustLogin(w, "pw-1")
	e.put("broken", rotasafe.StagePending)
	e.put("pw-3") // AWSCURRENT moves; AWSPENDING stays on the broken version
	e.setPassword("pw-3")
	v, err := w.Login(t.Context(), func(ctx context.Context, v rotasafe.Version) error {
		if v.SecretString == "broken" {
			return login.Unusable(errors.New("malformed secret"))
		}
		return e.try(ctx, v)
	})
	if err != nil || v.SecretString != "pw-3" {
		t.Fatalf("Login: got %v, %v; want pw-3", v, err)
	}
	// pw-1 before, pw-1 rejected, pw-3: the unusable version is not a login.
	if st := w.Stats(); st.Logins != 3 || st.Rereads.Current != 1 {
		t.Errorf("stats %+v, want 3 logins and AWSCURRENT read after the unusable AWSPENDING", st)
	}
}

// TestTransientRetried: transient failures are retried within the policy.
func TestTransientRetried(t *testing.T) {
	e := newEnv(t)
	w := e.walker(login.WithRetry(retry.Policy{Initial: time.Millisecond, Max: time.Millisecond, MaxAttempts: 5}))
	n := 0
	v, err := w.Login(t.Context(), func(ctx context.Context, v rotasafe.Version) error {
		if n++; n < 3 {
			return login.Transient(errors.New("connection refused"))
		}
		return e.try(ctx, v)
	})
	if err != nil || v.SecretString != "pw-1" {
		t.Fatalf("Login: %v, %v", v, err)
	}
	if st := w.Stats(); st.Retries != 2 || st.Logins != 3 {
		t.Errorf("stats %+v, want 2 retries and 3 logins", st)
	}
	// Other failures end at once.
	_, err = w.Login(t.Context(), func(context.Context, rotasafe.Version) error {
		return errors.New("database does not exist")
	})
	if ce, ok := errors.AsType[*rotasafe.ConnectError](err); !ok || ce.Total != 1 {
		t.Errorf("got %v, want a ConnectError after one login", err)
	}
}

// TestPreferredVersion: a version offered by Prefer is tried first; once the database
// rejects it, it is not preferred again.
func TestPreferredVersion(t *testing.T) {
	e := newEnv(t)
	v2 := e.put("pw-2", rotasafe.StagePending)
	pending, err := e.c.GetStage(t.Context(), id, rotasafe.StagePending)
	if err != nil || pending.ID != v2 {
		t.Fatal(err)
	}
	w := e.walkerOn(preferring{e.c, pending})
	e.setPassword("pw-2")
	e.mustLogin(w, "pw-2")
	if st := w.Stats(); st.Rejected.Total() != 0 {
		t.Errorf("a preferred version that works: %+v, want no rejection", st)
	}
	e.setPassword("pw-1") // the preferred version is wrong now
	e.mustLogin(w, "pw-1")
	rejected := w.Stats().Rejected.Total()
	e.mustLogin(w, "pw-1")
	if got := w.Stats().Rejected.Total(); got != rejected {
		t.Errorf("the rejected preferred version was tried again: %d rejections, want %d", got, rejected)
	}
}

// preferring is a Source that prefers v.
type preferring struct {
	*cache.Cache
	v rotasafe.Version
}

func (p preferring) Prefer(context.Context, string) (rotasafe.Version, bool) { return p.v, true }

var (
	_ rotasafe.Preferrer = preferring{}
	_ rotasafe.Preferrer = (*cache.Cache)(nil)
)

// TestStickyFallbackOutlivesCurrent: a client kept logging in with the AWSPENDING version it
// fell back to (the cache's AWSCURRENT stayed the old version), then a whole rotation passed
// without a login. Its fallback is rejected, AWSPENDING is gone, and the cached AWSCURRENT is
// older than the fallback: AWSCURRENT is read again at once, not answered from the cache
// and tried (a rejected login more).
func TestStickyFallbackOutlivesCurrent(t *testing.T) {
	e := newEnv(t)
	w := e.walker()
	e.mustLogin(w, "pw-1")
	v2 := e.setPending("pw-2")
	e.mustLogin(w, "pw-2") // falls back to AWSPENDING, which sticks
	e.promote(v2)
	v3 := e.setPending("pw-3")
	e.promote(v3)
	if _, err := e.api.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(id), VersionStage: aws.String(rotasafe.StagePending), RemoveFromVersionId: aws.String(v3)}); err != nil {
		t.Fatal(err)
	}
	before := w.Stats().Rejected.Total()
	e.mustLogin(w, "pw-3")
	if got := w.Stats().Rejected.Total() - before; got != 1 {
		t.Errorf("%d rejected logins, want 1 (the fallback's)", got)
	}
}

// TestRecover: a client whose own login was rejected hands the walk the version it used.
func TestRecover(t *testing.T) {
	e := newEnv(t)
	w := e.walker()
	used, err := w.Choose(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e.setPending("pw-2")
	v, err := w.Recover(t.Context(), used, errRejected, e.try)
	if err != nil || v.SecretString != "pw-2" {
		t.Fatalf("Recover: %v, %v", v, err)
	}
	if next, _ := w.Choose(t.Context()); next.ID != v.ID {
		t.Errorf("Choose after Recover: %s, want the version that worked %s", next.ID, v.ID)
	}
	if st := w.Stats(); st.Rejected.Current != 1 || st.Logins != 2 {
		t.Errorf("stats %+v, want the client's rejected login counted and one more", st)
	}
}

// TestNoFallback: only AWSCURRENT is read again.
func TestNoFallback(t *testing.T) {
	e := newEnv(t)
	w := e.walker(login.WithoutFallback())
	e.setPending("pw-2")
	if _, err := w.Login(t.Context(), e.try); err == nil {
		t.Fatal("Login with only AWSCURRENT succeeded, want a rejection")
	}
	if st := w.Stats(); st.Rereads.Pending != 0 || st.Rereads.Previous != 0 {
		t.Errorf("stats %+v, want no AWSPENDING or AWSPREVIOUS read", st)
	}
}

// TestStaleAnswerIsFollowed: the source shares one answer per rejected version, so an
// instance still holding an old AWSCURRENT can be handed a version that a later rotation
// already replaced. Its rejection is a new reason: the walk asks again and finds the newest.
func TestStaleAnswerIsFollowed(t *testing.T) {
	e := newEnv(t)
	a := e.walker()
	e.mustLogin(a, "pw-1")
	e.setPending("pw-2")
	e.mustLogin(a, "pw-2") // the answer for rejected v1 is v2
	e.setPending("pw-3")

	b := e.walker() // another client of the same cache, which still holds v1
	calls := e.sm.Calls("GetSecretValue")
	e.mustLogin(b, "pw-3")
	if st := b.Stats(); st.Rejected.Total() != 2 || st.Rereads.Pending != 2 {
		t.Errorf("stats %+v, want v1 and the stale v2 rejected, AWSPENDING asked for twice", st)
	}
	if n := e.sm.Calls("GetSecretValue") - calls; n != 1 {
		t.Errorf("GetSecretValue calls: %d, want 1 (the shared answer costs none)", n)
	}
}
