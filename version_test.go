package rotasafe_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/rotasafe/rotasafe"
)

func TestVersionNeverPrintsValue(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	out := &secretsmanager.GetSecretValueOutput{
		ARN:           aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"),
		Name:          aws.String("prod/db"),
		VersionId:     aws.String("v1"),
		VersionStages: []string{rotasafe.StageCurrent},
		SecretString:  aws.String(pw),
		CreatedDate:   &created,
	}
	v := rotasafe.NewVersion(out)
	if v.SecretString != pw || v.ID != "v1" || !v.HasStage(rotasafe.StageCurrent) || !v.CreatedDate.Equal(created) {
		t.Fatalf("NewVersion lost fields: %v", v)
	}
	assertNoLeak(t, v, pw)
	bin := rotasafe.Version{Name: "b", ID: "v2", SecretBinary: []byte(pw)}
	assertNoLeak(t, bin, pw)

	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	if m["VersionId"] != "v1" || m["Name"] != "prod/db" {
		t.Errorf("MarshalJSON lost metadata: %s", j)
	}
	if !strings.Contains(v.String(), "v1") {
		t.Errorf("String() = %q, want the version ID in it", v.String())
	}
}

func TestNewVersionDoesNotAlias(t *testing.T) {
	t.Parallel()
	out := &secretsmanager.GetSecretValueOutput{SecretBinary: []byte("abc"), VersionStages: []string{"A"}}
	v := rotasafe.NewVersion(out)
	out.SecretBinary[0] = 'X'
	out.VersionStages[0] = "B"
	if string(v.SecretBinary) != "abc" || v.Stages[0] != "A" {
		t.Errorf("Version aliases the SDK output: %q %v", v.SecretBinary, v.Stages)
	}
	if got := rotasafe.NewVersion(nil); got.ID != "" {
		t.Errorf("NewVersion(nil) = %v, want zero", got)
	}
}

func TestLabels(t *testing.T) {
	t.Parallel()
	l := rotasafe.StagesOf(&secretsmanager.DescribeSecretOutput{VersionIdsToStages: map[string][]string{
		"v1": {rotasafe.StagePrevious},
		"v2": {rotasafe.StageCurrent},
		"v3": {rotasafe.StagePending, "custom"},
	}})
	for _, tt := range []struct {
		stage, want string
		ok          bool
	}{
		{rotasafe.StageCurrent, "v2", true},
		{rotasafe.StagePending, "v3", true},
		{rotasafe.StagePrevious, "v1", true},
		{"custom", "v3", true},
		{"nope", "", false},
	} {
		got, ok := l.VersionOf(tt.stage)
		if got != tt.want || ok != tt.ok {
			t.Errorf("VersionOf(%s) = %q, %v; want %q, %v", tt.stage, got, ok, tt.want, tt.ok)
		}
	}
	if !l.Has("v3", "custom") || l.Has("v1", rotasafe.StageCurrent) {
		t.Errorf("Has is wrong")
	}
	if !l.RotationInProgress() {
		t.Errorf("AWSPENDING on a non-current version: RotationInProgress = false, want true")
	}
	done := rotasafe.Stages{"v3": {rotasafe.StageCurrent, rotasafe.StagePending}}
	if done.RotationInProgress() {
		t.Errorf("AWSPENDING on the current version: RotationInProgress = true, want false")
	}
	if (rotasafe.Stages{}).RotationInProgress() {
		t.Errorf("no labels: RotationInProgress = true")
	}
}
