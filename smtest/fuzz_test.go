package smtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecodeRequest feeds the handler arbitrary targets and bodies. Whatever it gets, it must
// not panic, must answer a JSON object with a known status and the AWS JSON content type, and
// an error answer must carry __type and Message and never echo a SecretString that appears in
// no other field of the request.
func FuzzDecodeRequest(f *testing.F) {
	seeds := []struct{ op, body string }{
		{"CreateSecret", `{"ClientRequestToken":"3f1c4a1e-6d8b-4c55-9a43-5a2b1c0d9e7f","Name":"prod/db","SecretString":"{\"password\":\"hunter2hunter2\"}","Tags":[{"Key":"team","Value":"db"}]}`},
		{"CreateSecret", `{"ClientRequestToken":"3f1c4a1e-6d8b-4c55-9a43-5a2b1c0d9e7f","Name":"bin","SecretBinary":"AAEC/v94"}`},
		{"GetSecretValue", `{"SecretId":"prod/db","VersionStage":"AWSPENDING"}`},
		{"GetSecretValue", `{"SecretId":"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db","VersionId":"x"}`},
		{"DescribeSecret", `{"SecretId":"prod/db"}`},
		{"PutSecretValue", `{"ClientRequestToken":"9a7c2b1e-6d8b-4c55-9a43-5a2b1c0d9e7f","SecretId":"prod/db","SecretString":"s3cr3t-value-here","VersionStages":["AWSPENDING"],"RotationToken":"0c3ab9e2-8f57-4c8e-93a4-2b9d3a4c5e6f"}`},
		{"UpdateSecretVersionStage", `{"SecretId":"prod/db","VersionStage":"AWSCURRENT","MoveToVersionId":"9a7c2b1e-6d8b-4c55-9a43-5a2b1c0d9e7f","RemoveFromVersionId":"3f1c4a1e-6d8b-4c55-9a43-5a2b1c0d9e7f"}`},
		{"GetRandomPassword", `{"PasswordLength":40,"ExcludeCharacters":"/@\"'\\","RequireEachIncludedType":true}`},
		{"GetRandomPassword", `{}`},
		{"ListSecretVersionIds", `{"SecretId":"prod/db","IncludeDeprecated":true,"MaxResults":1,"NextToken":"c210ZXN0LXBhZ2UtMQ"}`},
		{"RotateSecret", `{"ClientRequestToken":"1b2c3d4e-6d8b-4c55-9a43-5a2b1c0d9e7f","SecretId":"prod/db","RotationLambdaARN":"arn:aws:lambda:us-east-1:123456789012:function:r","RotationRules":{"AutomaticallyAfterDays":30}}`},
		{"CancelRotateSecret", `{"SecretId":"prod/db"}`},
		{"UpdateSecret", `{"ClientRequestToken":"5b2c3d4e-6d8b-4c55-9a43-5a2b1c0d9e7f","SecretId":"prod/db","Description":"d","SecretString":"another-secret-value"}`},
		{"DeleteSecret", `{"SecretId":"prod/db","RecoveryWindowInDays":7}`},
		{"RestoreSecret", `{"SecretId":"prod/db"}`},
		{"ListSecrets", `{"Filters":[{"Key":"name","Values":["!pr"]}],"MaxResults":2,"SortBy":"name","SortOrder":"desc"}`},
		{"BatchGetSecretValue", `{"SecretIdList":["prod/db","missing"]}`},
		{"TagResource", `{"SecretId":"prod/db","Tags":[{"Key":"a","Value":"b"}]}`},
		{"UntagResource", `{"SecretId":"prod/db","TagKeys":["a"]}`},
		{"NoSuchOperation", `{}`},
		{"GetSecretValue", `{"SecretId":`},
		{"GetSecretValue", `{"SecretId":42}`},
		{"GetSecretValue", `[]`},
		{"GetSecretValue", ``},
	}
	for _, sd := range seeds {
		f.Add("secretsmanager."+sd.op, []byte(sd.body))
	}
	s := NewServer()
	f.Cleanup(s.Close)
	f.Fuzz(func(t *testing.T, target string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.Header.Set("X-Amz-Target", target)
		rec := httptest.NewRecorder()
		s.serveHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 500, 503:
		default:
			t.Fatalf("status %d", rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			t.Fatalf("Content-Type %q", ct)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("answer is not a JSON object: %v", err)
		}
		if rec.Code == 200 {
			return
		}
		if code, _ := m["__type"].(string); code == "" {
			t.Fatalf("error answer without __type: %s", rec.Body)
		}
		if _, ok := m["Message"].(string); !ok {
			t.Fatalf("error answer without Message: %s", rec.Body)
		}
		var in map[string]any
		if json.Unmarshal(body, &in) != nil {
			return
		}
		secret, _ := in["SecretString"].(string)
		if len(secret) < 8 {
			return
		}
		for k, v := range in {
			if k == "SecretString" {
				continue
			}
			if b, _ := json.Marshal(v); strings.Contains(string(b), secret) || strings.Contains(target, secret) {
				return
			}
		}
		if strings.Contains(rec.Body.String(), secret) {
			t.Fatalf("error answer echoes the SecretString")
		}
	})
}
