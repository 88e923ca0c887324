package smtest_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/smtest"
)

func init() {
	conformanceCases = append(conformanceCases, moreCases...)
	slices.SortStableFunc(conformanceCases, func(a, b conformanceCase) int {
		return compareStrings(a.name[:6], b.name[:6])
	})
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type inre = *types.InvalidNextTokenException

var moreCases = []conformanceCase{
	{"case25_update_secret_metadata_and_value", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, v0 := create(t, c, "upd", "v0")
		out, err := c.UpdateSecret(t.Context(), &secretsmanager.UpdateSecretInput{SecretId: aws.String("upd"), Description: aws.String("the db")})
		if err != nil {
			t.Fatal(err)
		}
		if out.VersionId != nil {
			t.Fatalf("metadata-only update returned VersionId %s, want none", *out.VersionId)
		}
		if d := describe(t, c, "upd"); aws.ToString(d.Description) != "the db" || len(d.VersionIdsToStages) != 1 {
			t.Fatalf("after metadata update: description %q, %d versions", aws.ToString(d.Description), len(d.VersionIdsToStages))
		}
		out, err = c.UpdateSecret(t.Context(), &secretsmanager.UpdateSecretInput{SecretId: aws.String("upd"), SecretString: aws.String("v1")})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{v0: {"AWSPREVIOUS"}, aws.ToString(out.VersionId): {"AWSCURRENT"}}
		if got := labelsOf(t, c, "upd"); !equalLabels(got, want) {
			t.Fatalf("labels %v, want %v", got, want)
		}
	}},
	{"case33_delete_with_recovery_window", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "del", "v")
		create(t, c, "keep", "v")
		out, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("del")})
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Until(*out.DeletionDate); d < 29*24*time.Hour || d > 31*24*time.Hour {
			t.Fatalf("DeletionDate is %v from now, want about 30 days", d)
		}
		if describe(t, c, "del").DeletedDate == nil {
			t.Fatal("DescribeSecret has no DeletedDate")
		}
		_, err = get(t.Context(), c, "del", "", "")
		wantErr[ire](t, err, "InvalidRequestException", msgDeleted)
		names := func(include bool) []string {
			l, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(include)})
			if err != nil {
				t.Fatal(err)
			}
			var n []string
			for _, e := range l.SecretList {
				n = append(n, *e.Name)
			}
			slices.Sort(n)
			return n
		}
		if got := names(false); !slices.Equal(got, []string{"keep"}) {
			t.Fatalf("ListSecrets: %v, want [keep]", got)
		}
		if got := names(true); !slices.Equal(got, []string{"del", "keep"}) {
			t.Fatalf("ListSecrets with planned deletion: %v, want [del keep]", got)
		}
	}},
	{"case34_deleted_secret_refuses_tags_and_create", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "gone", "v")
		if _, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("gone"), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
			t.Fatal(err)
		}
		_, err := c.TagResource(t.Context(), &secretsmanager.TagResourceInput{SecretId: aws.String("gone"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
		wantErr[ire](t, err, "InvalidRequestException", msgDeleted)
		_, err = c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("gone"), SecretString: aws.String("v")})
		wantErr[ire](t, err, "InvalidRequestException", "You can't create this secret because a secret with this name is already scheduled for deletion.")
		for name, call := range map[string]func() error{
			"PutSecretValue": func() error {
				_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("gone"), SecretString: aws.String("x")})
				return err
			},
			"UpdateSecret": func() error {
				_, err := c.UpdateSecret(t.Context(), &secretsmanager.UpdateSecretInput{SecretId: aws.String("gone"), Description: aws.String("x")})
				return err
			},
			"RotateSecret": func() error {
				_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("gone")})
				return err
			},
			"UpdateSecretVersionStage": func() error {
				_, err := c.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("gone"), VersionStage: aws.String("x"), MoveToVersionId: aws.String("y")})
				return err
			},
		} {
			if code := rotasafe.ErrorCode(call()); code != "InvalidRequestException" {
				t.Fatalf("%s on a deleted secret: code %q, want InvalidRequestException", name, code)
			}
		}
	}},
	{"case35_restore_secret", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "back", "v")
		if _, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("back")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RestoreSecret(t.Context(), &secretsmanager.RestoreSecretInput{SecretId: aws.String("back")}); err != nil {
			t.Fatal(err)
		}
		if d := describe(t, c, "back"); d.DeletedDate != nil {
			t.Fatalf("DeletedDate = %v after restore, want none", d.DeletedDate)
		}
		if got := getValue(t, c, "back", "", ""); got != "v" {
			t.Fatalf("got %q, want v", got)
		}
		if _, err := c.RestoreSecret(t.Context(), &secretsmanager.RestoreSecretInput{SecretId: aws.String("back")}); err != nil {
			t.Fatalf("restore of a live secret: %v, want 200", err)
		}
	}},
	{"case36_forced_delete_of_missing_and_bad_windows", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		out, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("never"), ForceDeleteWithoutRecovery: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Name) != "never" || out.ARN == nil || out.DeletionDate == nil {
			t.Fatalf("answer %+v, want Name, ARN and DeletionDate", out)
		}
		create(t, c, "w", "v")
		_, err = c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("w"), RecoveryWindowInDays: aws.Int64(6)})
		wantErr[ipe](t, err, "InvalidParameterException", "")
		_, err = c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("w"), RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)})
		wantErr[ipe](t, err, "InvalidParameterException", "")
		_, err = c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("never")})
		wantErr[rnf](t, err, "ResourceNotFoundException", msgNotFound)
	}},
	{"case37_recreate_after_forced_delete_new_suffix", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		first, _ := create(t, c, "re", "v")
		if _, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("re"), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("re"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
			t.Fatalf("forced delete of a scheduled secret: %v", err)
		}
		second, _ := create(t, c, "re", "w")
		if first == second {
			t.Fatalf("re-created secret kept ARN %s, want a new suffix", first)
		}
		_, err := get(t.Context(), c, first, "", "")
		wantErr[rnf](t, err, "ResourceNotFoundException", msgNotFound)
	}},
	{"case40_tags_absent_then_empty", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "t", "v")
		_, m, _ := rawCall(t, s, "secretsmanager.DescribeSecret", `{"SecretId":"t"}`)
		if _, ok := m["Tags"]; ok {
			t.Fatal("never-tagged secret has a Tags key")
		}
		for _, tags := range [][]types.Tag{{{Key: aws.String("a"), Value: aws.String("1")}}, {{Key: aws.String("a"), Value: aws.String("2")}, {Key: aws.String("b"), Value: aws.String("3")}}} {
			if _, err := c.TagResource(t.Context(), &secretsmanager.TagResourceInput{SecretId: aws.String("t"), Tags: tags}); err != nil {
				t.Fatal(err)
			}
		}
		d := describe(t, c, "t")
		if len(d.Tags) != 2 || aws.ToString(d.Tags[0].Value) != "2" {
			t.Fatalf("tags %+v, want a=2 and b=3", d.Tags)
		}
		if _, err := c.UntagResource(t.Context(), &secretsmanager.UntagResourceInput{SecretId: aws.String("t"), TagKeys: []string{"a", "b"}}); err != nil {
			t.Fatal(err)
		}
		_, m, _ = rawCall(t, s, "secretsmanager.DescribeSecret", `{"SecretId":"t"}`)
		if tags, ok := m["Tags"].([]any); !ok || len(tags) != 0 {
			t.Fatalf("Tags = %v, want []", m["Tags"])
		}
	}},
	{"case48_rotate_not_immediately", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, v0 := create(t, c, "later", "v0")
		var steps []string
		var pendingValue string
		s.RegisterRotationFunc(lambdaARN, func(ctx contextT, ev rotasafe.Event) error {
			steps = append(steps, ev.Step)
			out, err := get(ctx, c, ev.SecretID, ev.ClientRequestToken, "AWSPENDING")
			if err != nil {
				return err
			}
			pendingValue = aws.ToString(out.SecretString)
			return nil
		})
		out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("later"), RotationLambdaARN: aws.String(lambdaARN), RotateImmediately: aws.Bool(false), RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(steps, []string{"testSecret"}) || pendingValue != "v0" {
			t.Fatalf("steps %v, pending value copy ok: %v; want only testSecret on a copy of AWSCURRENT", steps, pendingValue == "v0")
		}
		if err := s.LastRotationError("later"); err != nil {
			t.Fatal(err)
		}
		if got := labelsOf(t, c, "later"); !equalLabels(got, map[string][]string{v0: {"AWSCURRENT"}}) {
			t.Fatalf("labels %v, want only %s:[AWSCURRENT] (pending %s dropped)", got, v0, *out.VersionId)
		}
		if d := describe(t, c, "later"); !aws.ToBool(d.RotationEnabled) {
			t.Fatal("RotationEnabled not true")
		}
	}},
	{"case50_cancel_rotate_secret", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "cancel", "v0")
		_, err := c.CancelRotateSecret(t.Context(), &secretsmanager.CancelRotateSecretInput{SecretId: aws.String("cancel")})
		wantErr[ire](t, err, "InvalidRequestException", "")
		s.RegisterRotationFunc(lambdaARN, func(ctx contextT, ev rotasafe.Event) error {
			if ev.Step == "createSecret" {
				return templateStep(ctx, c, ev)
			}
			return errTest
		})
		rot, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("cancel"), RotationLambdaARN: aws.String(lambdaARN), RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(7)}})
		if err != nil {
			t.Fatal(err)
		}
		before := labelsOf(t, c, "cancel")
		out, err := c.CancelRotateSecret(t.Context(), &secretsmanager.CancelRotateSecretInput{SecretId: aws.String("cancel")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.VersionId) != *rot.VersionId {
			t.Fatalf("VersionId %q, want the pending %s", aws.ToString(out.VersionId), *rot.VersionId)
		}
		d := describe(t, c, "cancel")
		if d.RotationEnabled == nil || *d.RotationEnabled || aws.ToString(d.RotationLambdaARN) != lambdaARN || aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != 7 {
			t.Fatalf("after cancel: enabled %v, lambda %q, rules %+v", d.RotationEnabled, aws.ToString(d.RotationLambdaARN), d.RotationRules)
		}
		if after := labelsOf(t, c, "cancel"); !equalLabels(after, before) {
			t.Fatalf("labels changed by cancel: %v -> %v", before, after)
		}
	}},
	{"case51_list_secrets_name_filter", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		for _, n := range []string{"test-a", "team", "other", "Test-b"} {
			create(t, c, n, "v")
		}
		names := func(vals ...string) []string {
			out, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: vals}}})
			if err != nil {
				t.Fatal(err)
			}
			var n []string
			for _, e := range out.SecretList {
				n = append(n, *e.Name)
				if len(e.SecretVersionsToStages) != 1 {
					t.Fatalf("%s: SecretVersionsToStages %v, want one version", *e.Name, e.SecretVersionsToStages)
				}
			}
			slices.Sort(n)
			return n
		}
		if got := names("te"); !slices.Equal(got, []string{"team", "test-a"}) {
			t.Fatalf("te: %v, want [team test-a]", got)
		}
		if got := names("!te"); !slices.Equal(got, []string{"Test-b", "other"}) {
			t.Fatalf("!te: %v, want [Test-b other]", got)
		}
		out, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeAll, Values: []string{"TEST"}}}})
		if err != nil || len(out.SecretList) != 2 {
			t.Fatalf("all=TEST: %v entries (%v), want 2 (case-insensitive)", len(out.SecretList), err)
		}
	}},
	{"case52_batch_get_secret_value", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		arn, _ := create(t, c, "here", "v")
		out, err := c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"here", "missing"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.SecretValues) != 1 || aws.ToString(out.SecretValues[0].ARN) != arn || aws.ToString(out.SecretValues[0].SecretString) != "v" || !slices.Equal(out.SecretValues[0].VersionStages, []string{"AWSCURRENT"}) {
			t.Fatalf("SecretValues %d entries, want one for %s with AWSCURRENT", len(out.SecretValues), arn)
		}
		if len(out.Errors) != 1 || aws.ToString(out.Errors[0].SecretId) != "missing" || aws.ToString(out.Errors[0].ErrorCode) != "ResourceNotFoundException" {
			t.Fatalf("Errors %+v, want one ResourceNotFoundException for missing", out.Errors)
		}
		_, err = c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"here"}, Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"h"}}}})
		wantErr[ipe](t, err, "InvalidParameterException", "Either 'SecretIdList' or 'Filters' must be provided, but not both.")
		_, err = c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"here"}, MaxResults: aws.Int32(2)})
		wantErr[ipe](t, err, "InvalidParameterException", "'Filters' not specified. 'Filters' must also be specified when 'MaxResults' is provided.")
		f, err := c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"he"}}}})
		if err != nil || len(f.SecretValues) != 1 {
			t.Fatalf("by filter: %v entries (%v), want 1", len(f.SecretValues), err)
		}
	}},
	{"case53_pagination", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		for _, n := range []string{"p1", "p2", "p3"} {
			create(t, c, n, "v")
		}
		put(t, c, "p1", "v2")
		var names []string
		pages := secretsmanager.NewListSecretsPaginator(c, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(1)})
		for pages.HasMorePages() {
			out, err := pages.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range out.SecretList {
				names = append(names, *e.Name)
			}
			if (out.NextToken == nil) != (len(names) == 3) {
				t.Fatalf("after %d names NextToken = %v, want it on every page but the last", len(names), out.NextToken)
			}
		}
		if len(names) != 3 {
			t.Fatalf("paged through %v, want 3 names", names)
		}
		n := 0
		vpages := secretsmanager.NewListSecretVersionIdsPaginator(c, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("p1"), MaxResults: aws.Int32(1)})
		for vpages.HasMorePages() {
			out, err := vpages.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			n += len(out.Versions)
		}
		if n != 2 {
			t.Fatalf("paged through %d versions, want 2", n)
		}
		_, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{NextToken: aws.String("garbage")})
		wantErr[inre](t, err, "InvalidNextTokenException", "")
		_, err = c.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("p1"), NextToken: aws.String("garbage")})
		wantErr[inre](t, err, "InvalidNextTokenException", "")
	}},
}
