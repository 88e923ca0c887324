package smtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/smtest"
	"github.com/rotasafe/rotasafe/smtest/internal/template"
)

// TestRotationURLAnswers drives RotateSecret through an HTTP invoke endpoint shaped like the
// Lambda Runtime Interface Emulator's and checks how each kind of answer ends the rotation.
func TestRotationURLAnswers(t *testing.T) {
	cases := []struct {
		name     string
		answer   func(w http.ResponseWriter) // nil: run the template and answer null
		wantStep string                      // step the rotation fails at; "" = success
		wantFE   bool                        // the error is a *smtest.FunctionError
	}{
		{"success", nil, "", false},
		{"function_error_200", func(w http.ResponseWriter) {
			w.Write([]byte(`{"errorMessage":"cannot reach the database","errorType":"errorString"}`))
		}, "createSecret", true},
		{"function_error_header", func(w http.ResponseWriter) {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			w.Write([]byte(`"boom"`))
		}, "createSecret", true},
		{"http_502", func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) }, "createSecret", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, c := newServer(t)
			arn, v0 := create(t, c, "url", "v0")
			var steps []string
			fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/2015-03-31/functions/function/invocations" {
					http.Error(w, "wrong path", http.StatusNotFound)
					return
				}
				var ev rotasafe.Event
				if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.SecretID != arn || ev.RotationToken == "" {
					http.Error(w, "bad event", http.StatusBadRequest)
					return
				}
				steps = append(steps, ev.Step)
				if tc.answer != nil {
					tc.answer(w)
					return
				}
				if err := template.Step(r.Context(), c, ev); err != nil {
					json.NewEncoder(w).Encode(map[string]string{"errorMessage": err.Error(), "errorType": "error"})
					return
				}
				w.Write([]byte("null"))
			}))
			defer fn.Close()
			s.RegisterRotationURL(lambdaARN, fn.URL)
			out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("url"), RotationLambdaARN: aws.String(lambdaARN)})
			if err != nil {
				t.Fatalf("RotateSecret: %v", err)
			}
			rerr := s.LastRotationError("url")
			if tc.wantStep == "" {
				if rerr != nil {
					t.Fatalf("rotation failed: %v", rerr)
				}
				if got := labelsOf(t, c, "url"); !equalLabels(got, map[string][]string{v0: {"AWSPREVIOUS"}, *out.VersionId: {"AWSCURRENT"}}) {
					t.Fatalf("labels %v after rotation", got)
				}
				if len(steps) != 4 {
					t.Fatalf("steps %v, want four", steps)
				}
				return
			}
			var re *smtest.RotationError
			if !errors.As(rerr, &re) || re.Step != tc.wantStep {
				t.Fatalf("LastRotationError = %v, want a failure at %s", rerr, tc.wantStep)
			}
			var fe *smtest.FunctionError
			if errors.As(rerr, &fe) != tc.wantFE {
				t.Fatalf("error %v: FunctionError %v, want %v", rerr, !tc.wantFE, tc.wantFE)
			}
			if len(steps) != 1 {
				t.Fatalf("steps %v, want the rotation to stop after the first", steps)
			}
		})
	}
}

// TestRotationViaLambdaRIE runs the rotation template as a real Lambda function under the
// Lambda Runtime Interface Emulator and rotates through its invoke URL.
func TestRotationViaLambdaRIE(t *testing.T) {
	rie, err := exec.LookPath("aws-lambda-rie")
	if err != nil {
		msg := "aws-lambda-rie not on PATH; install it with: go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"
		if os.Getenv("ROTASAFE_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s, c := newServer(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	build := exec.Command("go", "build", "-o", bin, "./internal/rielambda")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the test Lambda: %v\n%s", err, out)
	}
	invokeAddr, apiAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", apiAddr, bin)
	cmd.Env = append(os.Environ(), "SMTEST_URL="+s.URL, "AWS_LAMBDA_FUNCTION_TIMEOUT=60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the emulator and its bootstrap child
		cmd.Wait()
	})
	waitListening(t, invokeAddr)
	s.RegisterRotationURL(lambdaARN, "http://"+invokeAddr)

	_, v0 := create(t, c, "rie-db", "v0")
	out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("rie-db"), RotationLambdaARN: aws.String(lambdaARN)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LastRotationError("rie-db"); err != nil {
		t.Fatalf("rotation under the emulator failed: %v", err)
	}
	if got := labelsOf(t, c, "rie-db"); !equalLabels(got, map[string][]string{v0: {"AWSPREVIOUS"}, *out.VersionId: {"AWSCURRENT"}}) {
		t.Fatalf("labels %v after rotation", got)
	}

	_, v0 = create(t, c, "fail-testSecret-db", "v0")
	out, err = c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("fail-testSecret-db"), RotationLambdaARN: aws.String(lambdaARN)})
	if err != nil {
		t.Fatal(err)
	}
	var fe *smtest.FunctionError
	var re *smtest.RotationError
	if err := s.LastRotationError("fail-testSecret-db"); !errors.As(err, &re) || re.Step != "testSecret" || !errors.As(err, &fe) {
		t.Fatalf("LastRotationError = %v, want a Lambda function error at testSecret", err)
	}
	if got := labelsOf(t, c, "fail-testSecret-db"); !equalLabels(got, map[string][]string{v0: {"AWSCURRENT"}, *out.VersionId: {"AWSPENDING"}}) {
		t.Fatalf("labels %v after a failed rotation", got)
	}
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
