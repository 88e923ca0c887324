package smtest_test

import (
	"errors"
	"fmt"
	"strings"
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
	if l := s.Stages("many"); len(l) != 2 {
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

// TestFailAtEachRotationCall interrupts a rotation at each of its API calls in turn (the
// RotateSecret request itself is call 1). Whatever call fails, exactly one version holds
// AWSCURRENT, and re-running the stalled rotation with its token (TriggerRotation, as AWS
// retries) completes it.
func TestFailAtEachRotationCall(t *testing.T) {
	for k := 1; ; k++ {
		s := smtest.New(t)
		c := s.Client(fastRetry(1)) // no retries: the injected failure reaches the function
		_, v0 := create(t, c, "db", "v0")
		s.RegisterRotationFunc(lambdaARN, templateStep2(c))
		s.Faults().FailAt(k, "InternalServiceError")
		out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("db"), RotationLambdaARN: aws.String(lambdaARN)})
		s.Faults().Clear() // an unused FailAt must not hit the checks below
		if k == 1 {
			if rotasafe.ErrorCode(err) != "InternalServiceError" || s.Stages("db")[v0][0] != "AWSCURRENT" || len(s.Stages("db")) != 1 {
				t.Fatalf("k=1: RotateSecret %v, labels %v; want the request refused and nothing changed", err, s.Stages("db"))
			}
			continue
		}
		if err != nil {
			t.Fatalf("k=%d: RotateSecret: %v", k, err)
		}
		currents := 0
		for _, stages := range s.Stages("db") {
			for _, st := range stages {
				if st == "AWSCURRENT" {
					currents++
				}
			}
		}
		if currents != 1 {
			t.Fatalf("k=%d: %d versions hold AWSCURRENT: %v", k, currents, s.Stages("db"))
		}
		rotErr := s.LastRotationError("db")
		if rotErr == nil {
			if k < 4 {
				t.Fatalf("k=%d: the rotation succeeded through an injected failure", k)
			}
			if labelsVersion(t, c, "db", "AWSCURRENT") != *out.VersionId {
				t.Fatalf("k=%d: no failure left to inject, yet the rotation did not finish", k)
			}
			return // k is past the rotation's last call
		}
		vid, err := s.TriggerRotation(t.Context(), "db")
		if err != nil || vid != *out.VersionId {
			t.Fatalf("k=%d: retrying the stalled rotation: %s, %v; want %s to finish", k, vid, err, *out.VersionId)
		}
		// Leaving AWSPENDING on the new AWSCURRENT version is a valid end state (the failed
		// call may have been the one that removes it).
		got := labelsOf(t, c, "db")
		if !equalLabels(got, map[string][]string{v0: {"AWSPREVIOUS"}, vid: {"AWSCURRENT"}}) &&
			!equalLabels(got, map[string][]string{v0: {"AWSPREVIOUS"}, vid: {"AWSCURRENT", "AWSPENDING"}}) {
			t.Fatalf("k=%d: labels %v after the retry", k, got)
		}
		if k > 50 {
			t.Fatal("the rotation never got past its injected failures")
		}
	}
}

func TestLabelLimit(t *testing.T) {
	s, c := newServer(t)
	_, v0 := create(t, c, "lbl", "v0")
	move := func(label string) error {
		_, err := c.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("lbl"), VersionStage: &label, MoveToVersionId: &v0})
		return err
	}
	for i := range 19 { // with AWSCURRENT: 20 labels
		if err := move(fmt.Sprintf("L%d", i)); err != nil {
			t.Fatalf("label %d: %v", i, err)
		}
	}
	s.ResetCalls()
	if err := move("one-too-many"); rotasafe.ErrorCode(err) != "LimitExceededException" {
		t.Fatalf("21st label: %v, want LimitExceededException", err)
	}
	if n := s.Calls("UpdateSecretVersionStage"); n != 3 {
		t.Fatalf("server saw %d calls, want 3 (the SDK retries LimitExceededException)", n)
	}
	if err := move("L3"); err != nil {
		t.Fatalf("moving a label the secret already has: %v", err)
	}
}

func TestUnmodelledOperationSaysSo(t *testing.T) {
	s, _ := newServer(t)
	status, m, _ := rawCall(t, s, "secretsmanager.PutResourcePolicy", `{}`)
	if status != 400 || m["__type"] != "UnknownOperationException" || !strings.Contains(m["Message"].(string), "smtest does not implement") {
		t.Fatalf("got %d %v", status, m)
	}
}
