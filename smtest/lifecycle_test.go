package smtest_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/smtest"
)

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestRecoveryWindowEnds(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 15, 4, 5, 0, time.UTC)}
	s := smtest.New(t, smtest.WithClock(clock.now))
	c := s.Client(fastRetry(1))
	first, _ := create(t, c, "temp", "v")
	out, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("temp"), RecoveryWindowInDays: aws.Int64(7)})
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.now().Add(7 * 24 * time.Hour); !out.DeletionDate.Equal(want) {
		t.Fatalf("DeletionDate %v, want %v", out.DeletionDate, want)
	}
	clock.advance(7*24*time.Hour - time.Second)
	if describe(t, c, "temp").DeletedDate == nil {
		t.Fatal("secret gone before its recovery window ended")
	}
	clock.advance(time.Second)
	_, err = c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("temp")})
	wantErr[rnf](t, err, "ResourceNotFoundException", msgNotFound)
	if second, _ := create(t, c, "temp", "w"); second == first {
		t.Fatal("re-created secret kept the old ARN")
	}
}

func TestKeepsNewestHundredVersions(t *testing.T) {
	s, c := newServer(t)
	_, v0 := create(t, c, "many", "v0")
	for range 104 {
		put(t, c, "many", "v")
	}
	vs := s.Versions("many")
	if len(vs) != 100 {
		t.Fatalf("%d versions kept, want 100", len(vs))
	}
	for _, v := range vs {
		if v.ID == v0 {
			t.Fatal("the oldest deprecated version was kept")
		}
	}
	if l := s.Labels("many"); len(l) != 2 {
		t.Fatalf("labels %v, want AWSCURRENT and AWSPREVIOUS on two versions", l)
	}
}

func TestTriggerRotation(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 15, 4, 5, 0, time.UTC)}
	s := smtest.New(t, smtest.WithClock(clock.now))
	c := s.Client(fastRetry(1))
	create(t, c, "sched", "v0")
	if _, err := s.TriggerRotation(t.Context(), "sched"); rotasafe.ErrorCode(err) != "InvalidRequestException" {
		t.Fatalf("without a configured function: %v, want InvalidRequestException", err)
	}
	var tokens []string
	s.RegisterRotationFunc(lambdaARN, func(ctx contextT, ev rotasafe.Event) error {
		tokens = append(tokens, ev.ClientRequestToken)
		return templateStep(ctx, c, ev)
	})
	if _, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("sched"), RotationLambdaARN: aws.String(lambdaARN), RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(10)}}); err != nil {
		t.Fatal(err)
	}
	clock.advance(10 * 24 * time.Hour)
	vid, err := s.TriggerRotation(t.Context(), "sched")
	if err != nil {
		t.Fatal(err)
	}
	if tokens[len(tokens)-1] != vid || getValue(t, c, "sched", "", "") == "" || labelsVersion(t, c, "sched", "AWSCURRENT") != vid {
		t.Fatalf("scheduled rotation %s did not become AWSCURRENT", vid)
	}
	if d := describe(t, c, "sched"); !d.LastRotatedDate.Equal(clock.now().Truncate(time.Millisecond)) || !d.NextRotationDate.Equal(clock.now().Add(240*time.Hour)) {
		t.Fatalf("LastRotatedDate %v NextRotationDate %v, want now and now+10d", d.LastRotatedDate, d.NextRotationDate)
	}
	s.RegisterRotationFunc(lambdaARN, func(contextT, rotasafe.Event) error { return errTest })
	_, err = s.TriggerRotation(t.Context(), "sched")
	var re *smtest.RotationError
	if !errors.As(err, &re) || !errors.Is(err, errTest) || re.Step != "createSecret" {
		t.Fatalf("failing function: %v, want a RotationError at createSecret wrapping the cause", err)
	}
}

// TestRotationTokenChecked checks the RotationToken rule: during a rotation, PutSecretValue
// with another RotationToken is refused with AccessDeniedException.
func TestRotationTokenChecked(t *testing.T) {
	s, c := newServer(t)
	create(t, c, "tok", "v0")
	var putErr error
	s.RegisterRotationFunc(lambdaARN, func(ctx contextT, ev rotasafe.Event) error {
		if ev.Step == "createSecret" {
			_, putErr = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
				SecretId: &ev.SecretID, ClientRequestToken: &ev.ClientRequestToken, SecretString: aws.String("p"),
				VersionStages: []string{"AWSPENDING"}, RotationToken: aws.String("00000000-0000-4000-8000-000000000000"),
			})
		}
		return templateStep(ctx, c, ev)
	})
	if _, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("tok"), RotationLambdaARN: aws.String(lambdaARN)}); err != nil {
		t.Fatal(err)
	}
	wantErr[generic](t, putErr, "AccessDeniedException", "")
	if err := s.LastRotationError("tok"); err != nil {
		t.Fatalf("the template's own put (right token) failed: %v", err)
	}
}

// TestCloseCancelsRotation checks that Close cancels a rotation function's context.
func TestCloseCancelsRotation(t *testing.T) {
	s := smtest.NewServer()
	c := s.Client(fastRetry(1))
	create(t, c, "slow", "v0")
	started := make(chan struct{})
	s.RegisterRotationFunc(lambdaARN, func(ctx contextT, ev rotasafe.Event) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("slow"), RotationLambdaARN: aws.String(lambdaARN)})
	}()
	<-started
	s.Close()
	<-done
}
