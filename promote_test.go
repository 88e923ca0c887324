package rotasafe_test

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/smtest"
)

// putPending stores value as a new AWSPENDING version and returns its ID.
func putPending(t *testing.T, c *secretsmanager.Client, id, value string) string {
	t.Helper()
	out, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(id), SecretString: aws.String(value), VersionStages: []string{rotasafe.StagePending},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// newSecret creates secret name with value and returns the ID of its version.
func newSecret(t *testing.T, c *secretsmanager.Client, name, value string) string {
	t.Helper()
	out, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// newRotating returns a Secrets Manager of t and its client, holding secret name with the
// value "one" in AWSCURRENT (version v1) and "two" in AWSPENDING (version v2).
func newRotating(t *testing.T, name string) (srv *smtest.Server, c *secretsmanager.Client, v1, v2 string) {
	t.Helper()
	srv = smtest.New(t)
	c = srv.Client()
	return srv, c, newSecret(t, c, name, "one"), putPending(t, c, name, "two")
}

// TestPromote checks that Promote moves AWSCURRENT to the pending version and AWSPREVIOUS to
// the old one, and that promoting it again calls nothing.
func TestPromote(t *testing.T) {
	t.Parallel()
	srv, c, v1, v2 := newRotating(t, "app/db")
	ctx := t.Context()

	if err := rotasafe.Promote(ctx, c, "app/db", v2); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	labels, err := rotasafe.DescribeStages(ctx, c, "app/db")
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := labels.VersionOf(rotasafe.StageCurrent); cur != v2 {
		t.Errorf("AWSCURRENT on %s, want %s", cur, v2)
	}
	if prev, _ := labels.VersionOf(rotasafe.StagePrevious); prev != v1 {
		t.Errorf("AWSPREVIOUS on %s, want %s (it follows AWSCURRENT)", prev, v1)
	}
	got, err := rotasafe.Fetch(ctx, c, "app/db", "", "")
	if err != nil || got.SecretString != "two" || got.ID != v2 {
		t.Errorf("Fetch AWSCURRENT = %v, %v; want version %s", got, err, v2)
	}

	// A retried finishSecret is a no-op: no second UpdateSecretVersionStage call.
	before := srv.Calls("UpdateSecretVersionStage")
	if err := rotasafe.Promote(ctx, c, "app/db", v2); err != nil {
		t.Fatalf("second Promote: %v", err)
	}
	if n := srv.Calls("UpdateSecretVersionStage") - before; n != 0 {
		t.Errorf("second Promote made %d UpdateSecretVersionStage calls, want 0", n)
	}
}

// TestPromoteErrors checks that Promote refuses an unknown version, a missing secret and an
// empty version ID.
func TestPromoteErrors(t *testing.T) {
	t.Parallel()
	srv := smtest.New(t)
	c := srv.Client()
	ctx := t.Context()
	newSecret(t, c, "app/db", "one")

	if err := rotasafe.Promote(ctx, c, "app/db", "no-such-version-0000000000000000000"); err == nil {
		t.Errorf("Promote to an unknown version succeeded")
	}
	if err := rotasafe.Promote(ctx, c, "missing/secret", "v"); !rotasafe.IsNotFound(err) {
		t.Errorf("Promote on a missing secret: got %v, want ResourceNotFoundException", err)
	}
	if err := rotasafe.Promote(ctx, c, "app/db", ""); err == nil {
		t.Errorf("Promote with an empty version ID succeeded")
	}
}

// Two finishSecret calls racing for the same version both succeed and leave one AWSCURRENT.
func TestPromoteRace(t *testing.T) {
	t.Parallel()
	_, c, v1, v2 := newRotating(t, "app/db")
	ctx := context.WithoutCancel(t.Context())

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = rotasafe.Promote(ctx, c, "app/db", v2) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("racer %d: %v", i, err)
		}
	}
	labels, err := rotasafe.DescribeStages(ctx, c, "app/db")
	if err != nil {
		t.Fatal(err)
	}
	if !labels.Has(v2, rotasafe.StageCurrent) || !labels.Has(v1, rotasafe.StagePrevious) {
		t.Errorf("labels after racing promotes: %v", labels)
	}
}

// TestFetchSelectors checks that Fetch reads AWSCURRENT by default, else the version or stage
// asked for, and that a stage no version holds is ResourceNotFoundException.
func TestFetchSelectors(t *testing.T) {
	t.Parallel()
	_, c, v1, v2 := newRotating(t, "s")
	ctx := t.Context()
	for _, tt := range []struct {
		name, version, stage, want string
		notFound                   bool
	}{
		{name: "default is AWSCURRENT", want: "one"},
		{name: "by stage", stage: rotasafe.StagePending, want: "two"},
		{name: "by version", version: v2, want: "two"},
		{name: "both", version: v1, stage: rotasafe.StageCurrent, want: "one"},
		{name: "missing stage", stage: rotasafe.StagePrevious, notFound: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rotasafe.Fetch(ctx, c, "s", tt.version, tt.stage)
			if tt.notFound {
				if !rotasafe.IsNotFound(err) {
					t.Fatalf("got %v, want ResourceNotFoundException", err)
				}
				if rotasafe.ErrorCode(err) != "ResourceNotFoundException" {
					t.Errorf("ErrorCode = %q", rotasafe.ErrorCode(err))
				}
				return
			}
			if err != nil || got.SecretString != tt.want {
				t.Fatalf("got %v, %v; want value %q", got, err, tt.want)
			}
		})
	}
}
