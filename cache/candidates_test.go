package cache_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
)

func ids(vs []rotasafe.Version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

// TestCandidatesThroughARotation follows a single-user rotation step by step.
func TestCandidatesThroughARotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // NegativeTTL 1 s
	ctx := t.Context()
	candidates := func(want ...string) {
		t.Helper()
		vs, err := e.c.Candidates(ctx, "app/db")
		if err != nil {
			t.Fatalf("Candidates: %v", err)
		}
		if got := ids(vs); !slices.Equal(got, want) {
			t.Fatalf("Candidates: got %v, want %v", got, want)
		}
	}
	v1 := e.create(t, "app/db", "pw-1")

	candidates(v1) // no AWSPENDING, no AWSPREVIOUS
	calls := e.calls()
	for range 10 {
		candidates(v1)
	}
	if got := e.calls(); got != calls {
		t.Fatalf("repeated Candidates made %d calls, want 0 (missing stages remembered)", got-calls)
	}

	// createSecret: a new version under AWSPENDING. Seen once the negative entry expires.
	v2 := e.put(t, "app/db", "pw-2", rotasafe.StagePending)
	candidates(v1)
	e.clock.Advance(time.Second)
	candidates(v1, v2)

	// finishSecret: AWSCURRENT moves to v2, AWSPREVIOUS to v1; AWSPENDING stays on v2.
	_, err := e.client.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("app/db"), VersionStage: aws.String(rotasafe.StageCurrent),
		MoveToVersionId: aws.String(v2), RemoveFromVersionId: aws.String(v1)})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := e.c.RefreshStale(ctx, "app/db", v1); err != nil || v.ID != v2 {
		t.Fatalf("RefreshStale: got %v, %v; want %s", v, err, v2)
	}
	// AWSCURRENT moved: the cached AWSPENDING and AWSPREVIOUS are asked for again at once.
	candidates(v2, v1) // AWSPENDING on v2 is the same version: listed once
}

func TestCandidatesPlaceholderPendingIsAbsent(t *testing.T) {
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
	vs, err := e.c.Candidates(t.Context(), "app/db")
	if err != nil || !slices.Equal(ids(vs), []string{v1}) {
		t.Fatalf("Candidates: got %v, %v; want [%s]", ids(vs), err, v1)
	}
}

func TestCandidatesErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.c.Candidates(t.Context(), "missing"); !rotasafe.IsNotFound(err) {
		t.Errorf("missing secret: got %v, want NotFound", err)
	}
	// AWSPENDING unreadable (a policy allowing AWSCURRENT only): left out, no error.
	v1 := e.create(t, "app/db", "pw-1")
	e.mustGet(t, "app/db")
	e.srv.Faults().FailNext("GetSecretValue", 2, "AccessDeniedException")
	vs, err := e.c.Candidates(t.Context(), "app/db")
	if err != nil || !slices.Equal(ids(vs), []string{v1}) {
		t.Errorf("unreadable AWSPENDING: got %v, %v; want [%s]", ids(vs), err, v1)
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

// TestCandidatesLearnsThatCurrentMoved is the race the time-to-recover benchmark found: a
// connector's forced refresh reads AWSCURRENT a moment before finishSecret moves it, so the
// cache still holds the old version; the AWSPENDING it then asks for is gone. The AWSPREVIOUS
// answer names the cached version as AWSPREVIOUS only: Candidates must notice, read
// AWSCURRENT again at once (inside the refresh floor) and put the new version first, instead
// of leaving the connector with nothing that logs in until the floor has passed.
func TestCandidatesLearnsThatCurrentMoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	v1 := e.create(t, "app/db", "pw-1")
	// The connector's rejected login: a forced refresh that still sees v1.
	if v, err := e.c.RefreshStale(ctx, "app/db", v1); err != nil || v.ID != v1 {
		t.Fatalf("RefreshStale before finishSecret: got %v, %v; want %s", v, err, v1)
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

	before := e.calls()
	vs, err := e.c.Candidates(ctx, "app/db")
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(vs); !slices.Equal(got, []string{v2, v1}) {
		t.Fatalf("Candidates: got %v, want [%s %s] (the new AWSCURRENT first)", got, v2, v1)
	}
	// AWSPENDING (absent), AWSPREVIOUS (v1, revealing the move) and AWSCURRENT again.
	if n := e.calls() - before; n != 3 {
		t.Errorf("Candidates made %d GetSecretValue calls, want 3", n)
	}
	if v, err := e.c.Get(ctx, "app/db"); err != nil || v.ID != v2 {
		t.Errorf("Get after Candidates: got %v, %v; want %s", v, err, v2)
	}
	// Inside the floor, RefreshStale with the old version is answered from the cache.
	before = e.calls()
	if v, err := e.c.RefreshStale(ctx, "app/db", v1); err != nil || v.ID != v2 {
		t.Errorf("RefreshStale: got %v, %v; want %s", v, err, v2)
	}
	if n := e.calls() - before; n != 0 {
		t.Errorf("RefreshStale made %d calls, want 0", n)
	}
}

// A forced refresh inside the floor is answered with the last forced answer, unless an
// answer from Secrets Manager has shown the cached AWSCURRENT stale since.
func TestLearnedMoveLiftsTheFloor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	v1 := e.create(t, "app/db", "pw-1")
	if _, err := e.c.RefreshStale(ctx, "app/db", v1); err != nil {
		t.Fatal(err)
	}
	v2 := e.put(t, "app/db", "pw-2")
	before := e.calls()
	if v, err := e.c.RefreshStale(ctx, "app/db", v1); err != nil || v.ID != v1 {
		t.Fatalf("inside the floor: got %v, %v; want the last answer %s", v, err, v1)
	}
	if n := e.calls() - before; n != 0 {
		t.Fatalf("inside the floor RefreshStale made %d calls, want 0", n)
	}
	// AWSPREVIOUS now names v1: the cache learns v1 is not current.
	if v, err := e.c.GetStage(ctx, "app/db", rotasafe.StagePrevious); err != nil || v.ID != v1 {
		t.Fatalf("GetStage AWSPREVIOUS: got %v, %v; want %s", v, err, v1)
	}
	if v, err := e.c.RefreshStale(ctx, "app/db", v1); err != nil || v.ID != v2 {
		t.Errorf("after the move was learned: got %v, %v; want %s", v, err, v2)
	}
}
