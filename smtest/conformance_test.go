package smtest_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/smtest"
)

type rnf = *types.ResourceNotFoundException
type ire = *types.InvalidRequestException
type ipe = *types.InvalidParameterException
type ree = *types.ResourceExistsException
type generic = *smithy.GenericAPIError

const (
	msgNotFound = "Secrets Manager can't find the specified secret."
	msgDeleted  = "You can't perform this operation on the secret because it was marked for deletion."
	msgToken    = "You must provide a ClientRequestToken value. We recommend a UUID-type value."
)

// conformanceCase is one numbered case of sm-wire-spec.md §6, run on a fresh server.
type conformanceCase struct {
	name string
	run  func(t *testing.T, s *smtest.Server, c *secretsmanager.Client)
}

func TestConformance(t *testing.T) {
	for _, tc := range conformanceCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, c := newServer(t)
			tc.run(t, s, c)
		})
	}
}

var conformanceCases = []conformanceCase{
	{"case01_unknown_target_generic_400", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		status, m, _ := rawCall(t, s, "secretsmanager.NoSuchOperation", `{}`)
		if status != 400 || m["__type"] != "UnknownOperationException" {
			t.Fatalf("got %d %v, want 400 UnknownOperationException", status, m)
		}
		status, _, _ = rawCall(t, s, "dynamodb.GetItem", `{}`)
		if status != 400 {
			t.Fatalf("foreign target: got %d, want 400", status)
		}
	}},
	{"case02_missing_secret_typed_not_found", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, err := get(t.Context(), c, "nope", "", "")
		wantErr[rnf](t, err, "ResourceNotFoundException", msgNotFound)
		status, m, _ := rawCall(t, s, "secretsmanager.GetSecretValue", `{"SecretId":"nope"}`)
		if status != 400 || m["__type"] != "ResourceNotFoundException" || m["Message"] != msgNotFound || len(m) != 2 {
			t.Fatalf("got %d %v, want 400 with exactly __type and Message", status, m)
		}
	}},
	{"case03_error_code_also_in_header", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		req, _ := newRawRequest(t, s, "secretsmanager.DescribeSecret", `{"SecretId":"nope"}`)
		resp, err := s.Client().Options().HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if h := resp.Header.Get("X-Amzn-ErrorType"); !strings.HasPrefix(h, "ResourceNotFoundException:") {
			t.Fatalf("X-Amzn-ErrorType = %q, want ResourceNotFoundException:...", h)
		}
	}},
	{"case04_throttling_and_limit_exceeded_retried", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		for _, code := range []string{"ThrottlingException", "LimitExceededException"} {
			s.ResetCalls()
			s.Faults().FailNext("DescribeSecret", 3, code)
			_, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("x")})
			if rotasafe.ErrorCode(err) != code {
				t.Fatalf("got %v, want %s", err, code)
			}
			if n := s.Calls("DescribeSecret"); n != 3 {
				t.Fatalf("%s: server saw %d calls, want 3", code, n)
			}
		}
	}},
	{"case05_internal_service_error_retried_at_500_only", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		s.Faults().FailNext("GetSecretValue", 3, "InternalServiceError")
		_, err := get(t.Context(), c, "x", "", "")
		var ise *types.InternalServiceError
		if !errors.As(err, &ise) {
			t.Fatalf("got %T %v, want *types.InternalServiceError", err, err)
		}
		if n := s.Calls("GetSecretValue"); n != 3 {
			t.Fatalf("server saw %d calls, want 3", n)
		}
		s.ResetCalls()
		s.Faults().FailNextStatus("GetSecretValue", 3, "InternalServiceError", 400)
		_, err = get(t.Context(), c, "x", "", "")
		if !errors.As(err, &ise) {
			t.Fatalf("got %T %v, want *types.InternalServiceError", err, err)
		}
		if n := s.Calls("GetSecretValue"); n != 1 {
			t.Fatalf("at 400: server saw %d calls, want 1", n)
		}
	}},
	{"case06_bad_name_validation_exception", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("a b"), SecretString: aws.String("v")})
		wantErr[generic](t, err, "ValidationException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}},
	{"case07_create_with_value_arn_suffix", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		arn, vid := create(t, c, "app/db", "v1")
		if vid == "" {
			t.Fatal("no VersionId")
		}
		if !regexp.MustCompile(`^arn:aws:secretsmanager:us-east-1:\d{12}:secret:app/db-[A-Za-z0-9]{6}$`).MatchString(arn) {
			t.Fatalf("ARN %q does not match the AWS form", arn)
		}
		if got := labelsOf(t, c, "app/db"); !slices.Equal(got[vid], []string{"AWSCURRENT"}) || len(got) != 1 {
			t.Fatalf("labels %v, want only %s:[AWSCURRENT]", got, vid)
		}
	}},
	{"case08_create_without_value", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		out, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("empty")})
		if err != nil {
			t.Fatal(err)
		}
		if out.VersionId != nil {
			t.Fatalf("VersionId = %q, want none", *out.VersionId)
		}
		if d := describe(t, c, "empty"); d.VersionIdsToStages != nil {
			t.Fatalf("VersionIdsToStages = %v, want absent", d.VersionIdsToStages)
		}
		_, err = get(t.Context(), c, "empty", "", "")
		wantErr[rnf](t, err, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT")
	}},
	{"case09_create_again_new_token_exists", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "dup", "v")
		_, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("dup"), SecretString: aws.String("v")})
		wantErr[ree](t, err, "ResourceExistsException", "The operation failed because the secret dup already exists.")
	}},
	{"case10_create_again_same_token_same_value_idempotent", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		in := &secretsmanager.CreateSecretInput{Name: aws.String("idem"), SecretString: aws.String("v"), ClientRequestToken: aws.String("11111111-2222-3333-4444-555555555555")}
		a, err := c.CreateSecret(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.CreateSecret(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if *a.ARN != *b.ARN || *a.Name != *b.Name || *a.VersionId != *b.VersionId {
			t.Fatalf("second answer %v/%v differs from first %v/%v", *b.ARN, *b.VersionId, *a.ARN, *a.VersionId)
		}
	}},
	{"case11_create_again_same_token_new_value_exists", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		tok := "11111111-2222-3333-4444-555555555555"
		in := &secretsmanager.CreateSecretInput{Name: aws.String("idem"), SecretString: aws.String("v"), ClientRequestToken: &tok}
		out, err := c.CreateSecret(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		in.SecretString = aws.String("other")
		_, err = c.CreateSecret(t.Context(), in)
		wantErr[ree](t, err, "ResourceExistsException", "You can't use ClientRequestToken "+tok+" because that value is already in use for a version of secret "+*out.ARN+".")
	}},
	{"case12_raw_request_without_token", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		status, m, _ := rawCall(t, s, "secretsmanager.CreateSecret", `{"Name":"raw","SecretString":"v"}`)
		if status != 400 || m["__type"] != "InvalidRequestException" || m["Message"] != msgToken {
			t.Fatalf("CreateSecret: got %d %v, want 400 InvalidRequestException", status, m)
		}
		create(t, c, "raw", "v")
		status, m, _ = rawCall(t, s, "secretsmanager.RotateSecret", `{"SecretId":"raw"}`)
		if status != 400 || m["__type"] != "InvalidParameterException" || m["Message"] != msgToken {
			t.Fatalf("RotateSecret: got %d %v, want 400 InvalidParameterException", status, m)
		}
	}},
	{"case13_create_with_both_values", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("both"), SecretString: aws.String("v"), SecretBinary: []byte("b")})
		wantErr[ipe](t, err, "InvalidParameterException", "")
	}},
	{"case14_lookup_by_name_arn_partial_arn", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		arn, _ := create(t, c, "lookup/me", "v")
		for _, id := range []string{"lookup/me", arn, arn[:len(arn)-7]} {
			if got := getValue(t, c, id, "", ""); got != "v" {
				t.Fatalf("by %q: got %q, want v", id, got)
			}
		}
		_, err := get(t.Context(), c, arn[:len(arn)-7]+"x", "", "")
		wantErr[rnf](t, err, "ResourceNotFoundException", msgNotFound)
	}},
	{"case15_partial_arn_that_looks_full", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		arn, _ := create(t, c, "x-a1b2c3", "v")
		_, err := get(t.Context(), c, arn[:len(arn)-7], "", "")
		wantErr[rnf](t, err, "ResourceNotFoundException", msgNotFound)
		for _, id := range []string{"x-a1b2c3", arn} {
			if got := getValue(t, c, id, "", ""); got != "v" {
				t.Fatalf("by %q: got %q, want v", id, got)
			}
		}
	}},
	{"case16_binary_round_trip_and_epoch_dates", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		bin := []byte{0, 1, 2, 0xfe, 0xff, 'x'}
		if _, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("bin"), SecretBinary: bin}); err != nil {
			t.Fatal(err)
		}
		out, err := get(t.Context(), c, "bin", "", "")
		if err != nil {
			t.Fatal(err)
		}
		if string(out.SecretBinary) != string(bin) || out.SecretString != nil {
			t.Fatalf("got %v / %v, want the bytes back and no string", out.SecretBinary, out.SecretString)
		}
		if out.CreatedDate == nil || time.Since(*out.CreatedDate) > time.Hour {
			t.Fatalf("CreatedDate = %v, want about now", out.CreatedDate)
		}
		_, m, _ := rawCall(t, s, "secretsmanager.GetSecretValue", `{"SecretId":"bin"}`)
		if _, ok := m["CreatedDate"].(float64); !ok {
			t.Fatalf("CreatedDate on the wire is %T, want a JSON number", m["CreatedDate"])
		}
		if m["SecretBinary"] != "AAEC/v94" {
			t.Fatalf("SecretBinary on the wire is %v, want padded base64 AAEC/v94", m["SecretBinary"])
		}
	}},
	{"case17_put_no_stages_rolls_labels", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, v0 := create(t, c, "roll", "v0")
		out, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("roll"), SecretString: aws.String("v1")})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.VersionStages, []string{"AWSCURRENT"}) {
			t.Fatalf("response stages %v, want [AWSCURRENT]", out.VersionStages)
		}
		want := map[string][]string{v0: {"AWSPREVIOUS"}, *out.VersionId: {"AWSCURRENT"}}
		if got := labelsOf(t, c, "roll"); !equalLabels(got, want) {
			t.Fatalf("labels %v, want %v", got, want)
		}
	}},
	{"case18_third_put_deprecates_first", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, v0 := create(t, c, "dep", "v0")
		v1 := put(t, c, "dep", "v1")
		v2 := put(t, c, "dep", "v2")
		if got, want := labelsOf(t, c, "dep"), map[string][]string{v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}}; !equalLabels(got, want) {
			t.Fatalf("labels %v, want %v", got, want)
		}
		list := func(dep bool) []types.SecretVersionsListEntry {
			out, err := c.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("dep"), IncludeDeprecated: aws.Bool(dep)})
			if err != nil {
				t.Fatal(err)
			}
			return out.Versions
		}
		if vs := list(false); len(vs) != 2 || slices.ContainsFunc(vs, func(e types.SecretVersionsListEntry) bool { return *e.VersionId == v0 }) {
			t.Fatalf("without deprecated: %d versions, want 2 without %s", len(vs), v0)
		}
		vs := list(true)
		i := slices.IndexFunc(vs, func(e types.SecretVersionsListEntry) bool { return *e.VersionId == v0 })
		if len(vs) != 3 || i < 0 || vs[i].VersionStages != nil {
			t.Fatalf("with deprecated: %d versions, want 3 with %s unlabelled", len(vs), v0)
		}
		_, m, _ := rawCall(t, s, "secretsmanager.ListSecretVersionIds", `{"SecretId":"dep","IncludeDeprecated":true}`)
		for _, e := range m["Versions"].([]any) {
			e := e.(map[string]any)
			if _, has := e["VersionStages"]; e["VersionId"] == v0 && has {
				t.Fatal("deprecated version listed with a VersionStages key")
			}
			if ids := e["KmsKeyIds"].([]any); len(ids) != 1 || ids[0] != "DefaultEncryptionKey" {
				t.Fatalf("KmsKeyIds = %v, want [DefaultEncryptionKey]", ids)
			}
		}
	}},
	{"case19_put_pending_keeps_current", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "pend", "old")
		put(t, c, "pend", "new", "AWSPENDING")
		if got := getValue(t, c, "pend", "", ""); got != "old" {
			t.Fatalf("default get: %q, want old", got)
		}
		if got := getValue(t, c, "pend", "", "AWSPENDING"); got != "new" {
			t.Fatalf("AWSPENDING get: %q, want new", got)
		}
	}},
	{"case20_put_current_and_custom", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, v0 := create(t, c, "cc", "v0")
		v1 := put(t, c, "cc", "v1", "AWSCURRENT", "PUT0")
		want := map[string][]string{v0: {"AWSPREVIOUS"}, v1: sorted("AWSCURRENT", "PUT0")}
		if got := labelsOf(t, c, "cc"); !equalLabels(got, want) {
			t.Fatalf("labels %v, want %v", got, want)
		}
	}},
	{"case21_custom_labels_move_individually", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, v0 := create(t, c, "custom", "v0")
		v1 := put(t, c, "custom", "v1", "one", "two", "three")
		v2 := put(t, c, "custom", "v2", "one", "two", "four")
		want := map[string][]string{v0: {"AWSCURRENT"}, v1: {"three"}, v2: sorted("one", "two", "four")}
		if got := labelsOf(t, c, "custom"); !equalLabels(got, want) {
			t.Fatalf("labels %v, want %v", got, want)
		}
	}},
	{"case22_put_same_token_idempotent", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, v0 := create(t, c, "same", "v0")
		out, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("same"), ClientRequestToken: &v0, SecretString: aws.String("v0")})
		if err != nil {
			t.Fatal(err)
		}
		if *out.VersionId != v0 || !slices.Equal(out.VersionStages, []string{"AWSCURRENT"}) {
			t.Fatalf("got %s %v, want %s [AWSCURRENT]", *out.VersionId, out.VersionStages, v0)
		}
		if n := len(s.Versions("same")); n != 1 {
			t.Fatalf("%d versions, want 1", n)
		}
		_, err = c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("same"), ClientRequestToken: &v0, SecretString: aws.String("v1")})
		wantErr[ree](t, err, "ResourceExistsException", "")
	}},
	{"case23_first_value_gets_current", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		if _, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("e")}); err != nil {
			t.Fatal(err)
		}
		out, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("e"), SecretString: aws.String("v"), VersionStages: []string{"AWSPENDING"}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(out.VersionStages, "AWSCURRENT") || !slices.Contains(out.VersionStages, "AWSPENDING") {
			t.Fatalf("stages %v, want AWSPENDING and AWSCURRENT", out.VersionStages)
		}
	}},
	{"case24_put_without_value", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "nv", "v")
		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("nv")})
		wantErr[ire](t, err, "InvalidRequestException", "You must provide either SecretString or SecretBinary.")
	}},
	{"case26_stage_not_on_version", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, v0 := create(t, c, "sv", "v0")
		put(t, c, "sv", "v1")
		_, err := get(t.Context(), c, "sv", v0, "AWSCURRENT")
		wantErr[ire](t, err, "InvalidRequestException", "You provided a VersionStage that is not associated to the provided VersionId.")
	}},
	{"case27_missing_stage_or_version", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "one", "v0")
		_, err := get(t.Context(), c, "one", "", "AWSPREVIOUS")
		wantErr[rnf](t, err, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS")
		_, err = get(t.Context(), c, "one", "no-such-version", "")
		wantErr[rnf](t, err, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: no-such-version")
	}},
	{"case28_last_accessed_date_resolution", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "acc", "v")
		if d := describe(t, c, "acc"); d.LastAccessedDate != nil {
			t.Fatalf("LastAccessedDate = %v before any read, want absent", d.LastAccessedDate)
		}
		// The read's day is the day before it or after it: a run across midnight UTC passes.
		before := midnight(time.Now())
		today := func(d *time.Time) bool { return d != nil && (d.Equal(before) || d.Equal(midnight(time.Now()))) }
		getValue(t, c, "acc", "", "")
		d := describe(t, c, "acc")
		if !today(d.LastAccessedDate) {
			t.Fatalf("LastAccessedDate = %v, want today 00:00 UTC", d.LastAccessedDate)
		}
		out, err := c.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("acc")})
		if err != nil {
			t.Fatal(err)
		}
		if la := out.Versions[0].LastAccessedDate; !today(la) {
			t.Fatalf("version LastAccessedDate = %v, want today 00:00 UTC", la)
		}
	}},
	{"case29_move_current_needs_remove_from", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, v0 := create(t, c, "mv", "v0")
		v1 := put(t, c, "mv", "v1", "AWSPENDING")
		_, err := c.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("mv"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: &v1})
		wantErr[ipe](t, err, "InvalidParameterException", "The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently attached to version "+v0+", so you must explicitly reference that version in RemoveFromVersionId.")
		_, err = c.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("mv"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: &v1, RemoveFromVersionId: &v1})
		wantErr[ipe](t, err, "InvalidParameterException", "")
		if got := getValue(t, c, "mv", "", ""); got != "v0" {
			t.Fatalf("AWSCURRENT moved after failed calls: got %q", got)
		}
	}},
	{"case30_move_current_keeps_pending", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, vA := create(t, c, "fin", "a")
		v0 := put(t, c, "fin", "b") // vA is now AWSPREVIOUS
		v1 := put(t, c, "fin", "c", "AWSPENDING")
		_, err := c.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("fin"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: &v1, RemoveFromVersionId: &v0})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{v0: {"AWSPREVIOUS"}, v1: sorted("AWSCURRENT", "AWSPENDING")}
		if got := labelsOf(t, c, "fin"); !equalLabels(got, want) {
			t.Fatalf("labels %v, want %v (and %s deprecated)", got, want, vA)
		}
	}},
	{"case31_remove_custom_label", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, v0 := create(t, c, "rm", "v0")
		put(t, c, "rm", "v0b", "AWSCURRENT", "blue")
		v1 := labelsVersion(t, c, "rm", "blue")
		out, err := c.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("rm"), VersionStage: aws.String("blue"), RemoveFromVersionId: &v1})
		if err != nil {
			t.Fatal(err)
		}
		if *out.Name != "rm" || out.ARN == nil {
			t.Fatalf("answer %v, want ARN and Name", out)
		}
		want := map[string][]string{v0: {"AWSPREVIOUS"}, v1: {"AWSCURRENT"}}
		if got := labelsOf(t, c, "rm"); !equalLabels(got, want) {
			t.Fatalf("labels %v, want %v", got, want)
		}
		_, m, _ := rawCall(t, s, "secretsmanager.UpdateSecretVersionStage", `{"SecretId":"rm","VersionStage":"green","MoveToVersionId":"`+v0+`"}`)
		if len(m) != 2 || m["ARN"] == nil || m["Name"] != "rm" {
			t.Fatalf("raw answer %v, want only ARN and Name", m)
		}
		_, err = c.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("rm"), VersionStage: aws.String("blue"), RemoveFromVersionId: &v1})
		wantErr[ipe](t, err, "InvalidParameterException", "")
	}},
	{"case32_move_unattached_label", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, v0 := create(t, c, "un", "v0")
		if _, err := c.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("un"), VersionStage: aws.String("blue"), MoveToVersionId: &v0}); err != nil {
			t.Fatal(err)
		}
		if got := labelsOf(t, c, "un"); !slices.Equal(got[v0], sorted("AWSCURRENT", "blue")) {
			t.Fatalf("labels %v, want %s:[AWSCURRENT blue]", got, v0)
		}
	}},
	{"case38_random_password_defaults", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		for range 20 {
			out, err := c.GetRandomPassword(t.Context(), &secretsmanager.GetRandomPasswordInput{})
			if err != nil {
				t.Fatal(err)
			}
			pw := *out.RandomPassword
			if len(pw) != 32 || strings.Contains(pw, " ") {
				t.Fatalf("length %d or has a space, want 32 without spaces", len(pw))
			}
			for _, class := range []string{"abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"} {
				if !strings.ContainsAny(pw, class) {
					t.Fatalf("password lacks a character of class %q", class)
				}
			}
		}
	}},
	{"case39_random_password_exclusions", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		out, err := c.GetRandomPassword(t.Context(), &secretsmanager.GetRandomPasswordInput{ExcludeCharacters: aws.String("xyzDje@?!."), PasswordLength: aws.Int64(120)})
		if err != nil {
			t.Fatal(err)
		}
		if pw := *out.RandomPassword; len(pw) != 120 || strings.ContainsAny(pw, "xyzDje@?!.") {
			t.Fatalf("length %d or holds an excluded character", len(pw))
		}
		out, err = c.GetRandomPassword(t.Context(), &secretsmanager.GetRandomPasswordInput{ExcludePunctuation: aws.Bool(true), ExcludeNumbers: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[A-Za-z]{32}$`).MatchString(*out.RandomPassword) {
			t.Fatal("want letters only")
		}
		_, err = c.GetRandomPassword(t.Context(), &secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(3)})
		wantErr[ipe](t, err, "InvalidParameterException", "Password length is too short based on the required types.")
	}},
	{"case41_rotate_without_lambda", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "nolambda", "v")
		_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("nolambda")})
		wantErr[ire](t, err, "InvalidRequestException", "No Lambda rotation function ARN is associated with this secret.")
		if d := describe(t, c, "nolambda"); d.RotationEnabled != nil || d.RotationLambdaARN != nil {
			t.Fatal("rotation configuration saved after a refused RotateSecret")
		}
	}},
	{"case42_rotate_uninvocable_function", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "denied", "v")
		_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("denied"), RotationLambdaARN: aws.String(lambdaARN)})
		wantErr[generic](t, err, "AccessDeniedException", "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.")
		d := describe(t, c, "denied")
		if d.RotationEnabled != nil || d.RotationLambdaARN != nil || d.RotationRules != nil || len(d.VersionIdsToStages) != 1 {
			t.Fatal("rotation configuration or a version saved after AccessDeniedException")
		}
	}},
	{"case43_rotate_invokes_four_steps", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		arn, _ := create(t, c, "rot", "v0")
		var events []rotasafe.Event
		s.RegisterRotationFunc(lambdaARN, recordingTemplate(c, &events, ""))
		out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("rot"), RotationLambdaARN: aws.String(lambdaARN)})
		if err != nil {
			t.Fatal(err)
		}
		var steps []string
		for _, ev := range events {
			steps = append(steps, ev.Step)
			if ev.ClientRequestToken != *out.VersionId || ev.SecretID != arn || len(ev.RotationToken) < 36 {
				t.Fatalf("event %v: want token %s, SecretId %s and a RotationToken", ev, *out.VersionId, arn)
			}
		}
		if want := []string{"createSecret", "setSecret", "testSecret", "finishSecret"}; !slices.Equal(steps, want) {
			t.Fatalf("steps %v, want %v", steps, want)
		}
		if err := s.LastRotationError("rot"); err != nil {
			t.Fatalf("LastRotationError = %v, want nil", err)
		}
	}},
	{"case44_placeholder_during_create", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "ph", "v0")
		var seen bool
		s.RegisterRotationFunc(lambdaARN, func(ctx contextT, ev rotasafe.Event) error {
			if ev.Step != "createSecret" {
				return templateStep(ctx, c, ev)
			}
			seen = true
			d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &ev.SecretID})
			if err != nil {
				return err
			}
			if !slices.Equal(d.VersionIdsToStages[ev.ClientRequestToken], []string{"AWSPENDING"}) || !aws.ToBool(d.RotationEnabled) {
				return errors.New("placeholder not [AWSPENDING] or rotation not enabled")
			}
			if _, err := get(ctx, c, ev.SecretID, ev.ClientRequestToken, "AWSPENDING"); !rotasafe.IsNotFound(err) {
				return errors.New("GetSecretValue on the placeholder: want ResourceNotFoundException")
			}
			l, err := c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: &ev.SecretID, IncludeDeprecated: aws.Bool(true)})
			if err != nil {
				return err
			}
			if slices.ContainsFunc(l.Versions, func(e types.SecretVersionsListEntry) bool { return *e.VersionId == ev.ClientRequestToken }) {
				return errors.New("placeholder listed by ListSecretVersionIds")
			}
			return templateStep(ctx, c, ev)
		})
		if _, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("ph"), RotationLambdaARN: aws.String(lambdaARN)}); err != nil {
			t.Fatal(err)
		}
		if err := s.LastRotationError("ph"); err != nil || !seen {
			t.Fatalf("rotation: %v (createSecret seen: %v)", err, seen)
		}
	}},
	{"case45_rotation_success_state", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, v0 := create(t, c, "ok", "v0")
		s.RegisterRotationFunc(lambdaARN, templateStep2(c))
		out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("ok"), RotationLambdaARN: aws.String(lambdaARN), RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(1)}})
		if err != nil {
			t.Fatal(err)
		}
		d := describe(t, c, "ok")
		want := map[string][]string{v0: {"AWSPREVIOUS"}, *out.VersionId: {"AWSCURRENT"}}
		if got := labelsOf(t, c, "ok"); !equalLabels(got, want) {
			t.Fatalf("labels %v, want %v", got, want)
		}
		if !aws.ToBool(d.RotationEnabled) || d.LastRotatedDate == nil || d.NextRotationDate == nil || aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != 1 || aws.ToString(d.RotationLambdaARN) != lambdaARN {
			t.Fatalf("rotation fields not all set: %+v", d)
		}
		if got := d.NextRotationDate.Sub(*d.LastRotatedDate); got != 24*time.Hour {
			t.Fatalf("NextRotationDate - LastRotatedDate = %v, want 24h", got)
		}
	}},
	{"case46_failure_at_test_secret", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		_, v0 := create(t, c, "bad", "v0")
		s.RegisterRotationFunc(lambdaARN, func(ctx contextT, ev rotasafe.Event) error {
			if ev.Step == "testSecret" {
				return errors.New("cannot log in with the pending password")
			}
			return templateStep(ctx, c, ev)
		})
		out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("bad"), RotationLambdaARN: aws.String(lambdaARN)})
		if err != nil {
			t.Fatalf("RotateSecret: %v, want 200 despite the failing step", err)
		}
		var re *smtest.RotationError
		if err := s.LastRotationError("bad"); !errors.As(err, &re) || re.Step != "testSecret" || re.VersionID != *out.VersionId {
			t.Fatalf("LastRotationError = %v, want a RotationError at testSecret", err)
		}
		want := map[string][]string{v0: {"AWSCURRENT"}, *out.VersionId: {"AWSPENDING"}}
		if got := labelsOf(t, c, "bad"); !equalLabels(got, want) {
			t.Fatalf("labels %v, want %v", got, want)
		}
		if v := getValue(t, c, "bad", *out.VersionId, "AWSPENDING"); v == "" {
			t.Fatal("pending version holds no value after createSecret")
		}
		_, err = c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("bad")})
		wantErr[ire](t, err, "InvalidRequestException", "")
	}},
	{"case47_create_secret_twice_same_token", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "twice", "v0")
		s.RegisterRotationFunc(lambdaARN, func(ctx contextT, ev rotasafe.Event) error {
			if ev.Step == "createSecret" {
				if err := templateStep(ctx, c, ev); err != nil {
					return err
				}
			}
			return templateStep(ctx, c, ev)
		})
		out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("twice"), RotationLambdaARN: aws.String(lambdaARN)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.LastRotationError("twice"); err != nil {
			t.Fatalf("rotation failed: %v", err)
		}
		n := 0
		for _, v := range s.Versions("twice") {
			if v.ID == *out.VersionId {
				n++
			}
		}
		if n != 1 || len(s.Versions("twice")) != 2 {
			t.Fatalf("%d versions with the token among %d, want 1 among 2", n, len(s.Versions("twice")))
		}
	}},
	{"case49_second_rotation_uses_stored_config", func(t *testing.T, s *smtest.Server, c *secretsmanager.Client) {
		create(t, c, "again", "v0")
		s.RegisterRotationFunc(lambdaARN, templateStep2(c))
		first, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("again"), RotationLambdaARN: aws.String(lambdaARN)})
		if err != nil {
			t.Fatal(err)
		}
		second, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("again")})
		if err != nil {
			t.Fatal(err)
		}
		if *first.VersionId == *second.VersionId || s.LastRotationError("again") != nil {
			t.Fatalf("second rotation: token %s (first %s), error %v", *second.VersionId, *first.VersionId, s.LastRotationError("again"))
		}
		if got := labelsOf(t, c, "again"); !equalLabels(got, map[string][]string{*first.VersionId: {"AWSPREVIOUS"}, *second.VersionId: {"AWSCURRENT"}}) {
			t.Fatalf("labels %v after two rotations", got)
		}
	}},
}

const lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:rotator"

func equalLabels(got, want map[string][]string) bool {
	if len(got) != len(want) {
		return false
	}
	for id, w := range want {
		g := slices.Clone(got[id])
		slices.Sort(g)
		w = slices.Clone(w)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			return false
		}
	}
	return true
}

// labelsVersion returns the version that holds stage.
func labelsVersion(t *testing.T, c *secretsmanager.Client, id, stage string) string {
	t.Helper()
	v, ok := rotasafe.StagesOf(describe(t, c, id)).VersionOf(stage)
	if !ok {
		t.Fatalf("no version of %s holds %s", id, stage)
	}
	return v
}

func midnight(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
