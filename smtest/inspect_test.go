package smtest_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/smtest"
)

// TestReadsByStage counts GetSecretValue requests by the stage they name, misses included.
func TestReadsByStage(t *testing.T) {
	t.Parallel()
	s := smtest.New(t)
	c := s.Client()
	out, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("a"), SecretString: aws.String("v")})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []*secretsmanager.GetSecretValueInput{
		{SecretId: aws.String("a"), VersionStage: aws.String(rotasafe.StageCurrent)},
		{SecretId: aws.String("a"), VersionStage: aws.String(rotasafe.StagePending)}, // not found
		{SecretId: aws.String("a"), VersionId: out.VersionId},
		{SecretId: aws.String("a")},
	} {
		c.GetSecretValue(t.Context(), in)
	}
	want := rotasafe.StageCounts{Current: 1, Pending: 1, Other: 2}
	if got := s.ReadsByStage(); got != want || got.Total() != int64(s.Calls("GetSecretValue")) {
		t.Errorf("got %+v (calls %d), want %+v", got, s.Calls("GetSecretValue"), want)
	}
	s.ResetCalls()
	if got := s.ReadsByStage(); got != (rotasafe.StageCounts{}) {
		t.Errorf("after ResetCalls: got %+v, want none", got)
	}
}
