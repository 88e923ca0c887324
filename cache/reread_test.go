package cache_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
)

// TestRereadThroughARotation follows a single-user rotation: one read of AWSPENDING after a
// rejected login finds the new password in the window and, after finishSecret, also tells
// the cache where AWSCURRENT went, with no further call.
func TestRereadThroughARotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	v1 := e.create(t, "app/db", "pw-1")
	e.mustGet(t, "app/db")
	// Another instance that caches v1 before the rotation, and reads nothing until the end.
	late := cache.New(e.client, cache.WithClock(e.clock.Now))
	defer late.Close()
	if v, err := late.Get(ctx, "app/db"); err != nil || v.ID != v1 {
		t.Fatalf("late Get: %v, %v", v, err)
	}

	// No rotation: AWSPENDING is absent, and that is remembered.
	if _, err := e.c.Reread(ctx, "app/db", rotasafe.StagePending, v1); !rotasafe.IsNotFound(err) {
		t.Fatalf("Reread(AWSPENDING) with no rotation: got %v, want NotFound", err)
	}

	// createSecret stored v2; setSecret changed the password: v1 is rejected again, past the
	// floor of the first report.
	v2 := e.put(t, "app/db", "pw-2", rotasafe.StagePending)
	e.clock.Advance(time.Second)
	v, err := e.c.Reread(ctx, "app/db", rotasafe.StagePending, v1)
	if err != nil || v.ID != v2 || v.HasStage(rotasafe.StageCurrent) {
		t.Fatalf("Reread(AWSPENDING) in the window: got %v, %v; want %s without AWSCURRENT", v, err, v2)
	}
	if cur := e.mustGet(t, "app/db"); cur.ID != v1 {
		t.Fatalf("Get in the window: got %s, want %s (AWSCURRENT has not moved)", cur.ID, v1)
	}

	// finishSecret: AWSCURRENT moves to v2 and AWSPENDING stays on it.
	if err := rotasafe.Promote(ctx, e.client, "app/db", v2); err != nil {
		t.Fatal(err)
	}
	// v1 reported again inside the floor: the shared answer, no call.
	v, err = e.c.Reread(ctx, "app/db", rotasafe.StagePending, v1)
	if err != nil || v.ID != v2 {
		t.Fatalf("Reread(AWSPENDING) for v1 again: got %v, %v; want the shared %s", v, err, v2)
	}
	// Past the floor, v1 reported again: the answer was another version, which is what to try;
	// it is still shared, with no call.
	e.clock.Advance(time.Second)
	calls := e.calls()
	if v, err = e.c.Reread(ctx, "app/db", rotasafe.StagePending, v1); err != nil || v.ID != v2 || e.calls() != calls {
		t.Fatalf("Reread for v1 past the floor: got %v, %v after %d calls; want the shared %s after none", v, err, e.calls()-calls, v2)
	}

	// Another instance cached v1 before the rotation and finds it rejected after finishSecret:
	// one read of AWSPENDING carries AWSCURRENT, and the cache learns where it went.
	calls = e.calls()
	v, err = late.Reread(ctx, "app/db", rotasafe.StagePending, v1)
	if err != nil || v.ID != v2 || !v.HasStage(rotasafe.StageCurrent) {
		t.Fatalf("Reread(AWSPENDING) after finishSecret: got %v (%v), %v; want %s holding AWSCURRENT", v, v.Stages, err, v2)
	}
	if cur, err := late.Get(ctx, "app/db"); err != nil || cur.ID != v2 {
		t.Fatalf("Get after the AWSPENDING answer: got %v, %v; want %s (learned from its labels)", cur, err, v2)
	}
	if n := e.calls() - calls; n != 1 {
		t.Errorf("reading AWSPENDING and then AWSCURRENT made %d calls, want 1", n)
	}
	if st := e.c.Stats(); st.Reads.Pending != 2 || st.Reads.Current != 1 {
		t.Errorf("Stats.Reads = %+v; want 2 AWSPENDING reads and 1 AWSCURRENT", st.Reads)
	}
	if st := late.Stats(); st.Reads.Pending != 1 || st.Reads.Current != 1 {
		t.Errorf("late Stats.Reads = %+v; want 1 AWSPENDING read and 1 AWSCURRENT", st.Reads)
	}

}

func TestRereadPlaceholderPendingIsNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v1 := e.create(t, "app/db", "pw-1")
	// A rotation that failed in createSecret leaves AWSPENDING on a version without a value.
	e.srv.RegisterRotationFunc("arn:aws:lambda:us-east-1:123456789012:function:r", func(context.Context, rotasafe.Event) error {
		return errors.New("createSecret failed")
	})
	_, err := e.client.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId: aws.String("app/db"), RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:r")})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := e.c.Reread(t.Context(), "app/db", rotasafe.StagePending, v1); !rotasafe.IsNotFound(err) {
		t.Fatalf("Reread(AWSPENDING) of a placeholder: got %v, %v; want NotFound", v, err)
	}
}

func TestRereadErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.c.Reread(t.Context(), "missing", rotasafe.StagePending, "v"); !rotasafe.IsNotFound(err) {
		t.Errorf("missing secret: got %v, want NotFound", err)
	}
	if _, err := e.c.Reread(t.Context(), "app/db", "", "v"); err == nil {
		t.Errorf("empty stage: got no error")
	}
	// AWSPENDING unreadable (a policy allowing AWSCURRENT only): the error comes back.
	v1 := e.create(t, "app/db", "pw-1")
	e.mustGet(t, "app/db")
	e.srv.Faults().FailNext("GetSecretValue", 1, "AccessDeniedException")
	if _, err := e.c.Reread(t.Context(), "app/db", rotasafe.StagePending, v1); rotasafe.ErrorCode(err) != "AccessDeniedException" {
		t.Errorf("unreadable AWSPENDING: got %v, want AccessDeniedException", err)
	}
}

type dbCreds struct{ User, Password string }

func TestParsedMemoises(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "app/db", dbJSON("pw-1"))
	var mu sync.Mutex
	parses := 0
	parse := func(v rotasafe.Version) (rotasafe.DBSecret, error) {
		mu.Lock()
		parses++
		mu.Unlock()
		return rotasafe.ParseDBSecret([]byte(v.SecretString))
	}
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			db, v, err := cache.GetParsed(t.Context(), e.c, "app/db", parse)
			if err != nil || db.Username != "app" || v.SecretString == "" {
				t.Errorf("GetParsed: got %v, %v, %v", db, v, err)
			}
			if _, err := cache.Parsed(e.c, v, parse); err != nil {
				t.Errorf("Parsed: %v", err)
			}
		})
	}
	wg.Wait()
	if parses != 1 {
		t.Fatalf("parses for 200 calls on one version: got %d, want 1", parses)
	}
	// Another type is another parse.
	v := e.mustGet(t, "app/db")
	creds, err := cache.Parsed(e.c, v, func(v rotasafe.Version) (dbCreds, error) {
		var c dbCreds
		return c, json.Unmarshal([]byte(v.SecretString), &c)
	})
	if err != nil || creds.Password != "pw-1" {
		t.Fatalf("Parsed dbCreds: got %v", err)
	}
	// A refresh that returns the same version keeps the memo; a new version parses again.
	e.clock.Advance(time.Minute)
	cache.GetParsed(t.Context(), e.c, "app/db", parse)
	if parses != 1 {
		t.Fatalf("after a refresh to the same version: %d parses, want 1", parses)
	}
	e.put(t, "app/db", dbJSON("pw-2"))
	e.clock.Advance(time.Minute)
	db, _, err := cache.GetParsed(t.Context(), e.c, "app/db", parse)
	if err != nil || db.Password != "pw-2" || parses != 2 {
		t.Fatalf("after rotation: got %v, %d parses; want pw-2 after 2", err, parses)
	}
	// The old version left the cache: Parsed runs parse each time.
	cache.Parsed(e.c, v, parse)
	cache.Parsed(e.c, v, parse)
	if parses != 4 {
		t.Errorf("Parsed of an uncached version: %d parses, want 4", parses)
	}
	if st := e.c.Stats(); st.Parses != 5 {
		t.Errorf("Stats.Parses: got %d, want 5", st.Parses)
	}
}

func TestParsedErrorMemoised(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "app/db", `{"username":"app","password":"pw-1`) // truncated JSON
	parses := 0
	parse := func(v rotasafe.Version) (rotasafe.DBSecret, error) {
		parses++
		return rotasafe.ParseDBSecret([]byte(v.SecretString))
	}
	for range 5 {
		_, v, err := cache.GetParsed(t.Context(), e.c, "app/db", parse)
		if !errors.Is(err, rotasafe.ErrSecretFormat) {
			t.Fatalf("GetParsed: got %v, want ErrSecretFormat", err)
		}
		if v.ID == "" {
			t.Fatalf("GetParsed returned no version with the parse error")
		}
		noSecret(t, err)
	}
	if parses != 1 {
		t.Errorf("parses of a broken version: got %d, want 1", parses)
	}
}

func dbJSON(password string) string {
	return `{"engine":"postgres","host":"db.example","username":"app","password":"` + password + `"}`
}

func TestParsedInterfaceType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "app/db", "pw-1")
	for range 2 {
		got, _, err := cache.GetParsed(t.Context(), e.c, "app/db", func(rotasafe.Version) (error, error) { return nil, nil })
		if got != nil || err != nil {
			t.Fatalf("GetParsed of a nil interface: got %v, %v", got, err)
		}
	}
}

// TestLearnsThatCurrentMoved is the race the time-to-recover benchmark found: a rejected
// caller reads AWSCURRENT a moment before finishSecret moves it, so the cache still holds
// the old version. The AWSPREVIOUS answer names the cached version as AWSPREVIOUS only: the
// cache must notice and read AWSCURRENT again at once, inside the floor.
func TestLearnsThatCurrentMoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	v1 := e.create(t, "app/db", "pw-1")
	if v, err := e.c.Reread(ctx, "app/db", rotasafe.StageCurrent, v1); err != nil || v.ID != v1 {
		t.Fatalf("Reread(AWSCURRENT) before finishSecret: got %v, %v; want %s", v, err, v1)
	}
	// The rest of the rotation lands: v2 stored, promoted, its AWSPENDING removed.
	v2 := e.put(t, "app/db", "pw-2", rotasafe.StagePending)
	if err := rotasafe.Promote(ctx, e.client, "app/db", v2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("app/db"), VersionStage: aws.String(rotasafe.StagePending), RemoveFromVersionId: aws.String(v2),
	}); err != nil {
		t.Fatal(err)
	}
	// Inside the floor, the same rejected version gets the last answer...
	before := e.calls()
	if v, err := e.c.Reread(ctx, "app/db", rotasafe.StageCurrent, v1); err != nil || v.ID != v1 {
		t.Fatalf("inside the floor: got %v, %v; want the last answer %s", v, err, v1)
	}
	if n := e.calls() - before; n != 0 {
		t.Fatalf("inside the floor Reread made %d calls, want 0", n)
	}
	// ...until AWSPREVIOUS names v1: the cache learns v1 is not current and lifts the floor.
	if v, err := e.c.Reread(ctx, "app/db", rotasafe.StagePrevious, v1); err != nil || v.ID != v1 {
		t.Fatalf("Reread(AWSPREVIOUS): got %v, %v; want %s", v, err, v1)
	}
	if v, err := e.c.Reread(ctx, "app/db", rotasafe.StageCurrent, v1); err != nil || v.ID != v2 {
		t.Errorf("after the move was learned: got %v, %v; want %s", v, err, v2)
	}
	if v, err := e.c.Get(ctx, "app/db"); err != nil || v.ID != v2 {
		t.Errorf("Get: got %v, %v; want %s", v, err, v2)
	}
}
