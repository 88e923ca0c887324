// Package lambdatest runs a rotation function end to end for its tests: it builds the
// function's command as a Lambda bootstrap, runs it under the official Lambda Runtime
// Interface Emulator (aws-lambda-rie) pointed at an smtest Secrets Manager, has smtest's
// RotateSecret invoke it, and checks after each rotation that the new AWSCURRENT logs in
// and that the function printed no password. An example's test says only what is its
// own: its server, how to make a user, how to log in, its strategies.
//
//	lambdatest.Run(t, lambdatest.Function{
//		Dir:        ".",
//		Strategies: []string{"SINGLE_USER", "ALTERNATING_USERS"},
//		Admin:      adminSecret,   // the master secret's value
//		NewUser:    newUser,       // a user with a fresh password, as a secret
//		Login:      login,
//	})
package lambdatest

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver"
	"github.com/rotasafe/rotasafe/smtest"
)

// ErrNotInstalled says that aws-lambda-rie was not found, and how to install the pinned one.
var ErrNotInstalled = testserver.NotInstalled("lambdatest: aws-lambda-rie not found; install it with: go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d")

// FindRIE returns the path of aws-lambda-rie (on PATH or in $(go env GOPATH)/bin), or ends
// tb as testserver.SkipOrFail says.
func FindRIE(tb testing.TB) string {
	tb.Helper()
	var dirs []string
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	}
	p := testserver.FindBinary(dirs, "aws-lambda-rie")
	if p == "" {
		testserver.SkipOrFail(tb, ErrNotInstalled)
	}
	return p
}

// Build builds the command in dir as a Lambda bootstrap for the host's platform and returns
// its path.
func Build(tb testing.TB, dir string) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "bootstrap")
	cmd := exec.CommandContext(tb.Context(), "go", "build", "-tags", "lambda.norpc", "-o", bin, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// SMEnv returns the environment that points a function's AWS SDK at the smtest server at
// url, with credentials smtest accepts and nothing read from the machine.
func SMEnv(url string) []string {
	return []string{"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + url,
		"AWS_ACCESS_KEY_ID=AKIDSMTEST", "AWS_SECRET_ACCESS_KEY=smtest-not-a-secret",
		"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"}
}

// Process is a function running under the emulator.
type Process struct {
	URL  string // where smtest.Server.RegisterRotationURL sends invocations
	proc *testserver.Process
	out  *testserver.Buffer
}

// Output returns everything the emulator and the function printed so far.
func (p *Process) Output() string { return p.out.String() }

// Kill kills the emulator and the function at once, as a Lambda timeout or a host crash.
func (p *Process) Kill() { p.proc.Kill() }

// Start runs bin under the emulator rie with the environment env (added to the process's own
// without its AWS_ variables and those named by the prefixes in drop, such as "PG") and
// returns once it listens. It is killed when the test ends; its output is logged if the test
// failed.
func Start(tb testing.TB, rie, bin string, env []string, drop ...string) *Process {
	tb.Helper()
	var p *Process
	_, err := testserver.OnFreePort(func(port int) error {
		apiPort, err := testserver.FreePort()
		if err != nil {
			return err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort)), bin)
		cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "AWS_") || slices.ContainsFunc(drop, func(pre string) bool { return strings.HasPrefix(kv, pre) })
		})
		cmd.Env = append(cmd.Env, env...)
		cmd.Dir = filepath.Dir(bin)
		out := &testserver.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		proc, err := testserver.StartProcess(cmd, "")
		if err != nil {
			return err
		}
		listens := func(ctx context.Context) error {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
			}
			return err
		}
		if err := testserver.WaitReady(tb.Context(), proc, listens); err != nil {
			proc.Kill()
			return testserver.MarkPortTaken(err, out.String())
		}
		p = &Process{URL: "http://" + addr, proc: proc, out: out}
		return nil
	})
	if err != nil {
		tb.Fatalf("lambdatest: start aws-lambda-rie: %v", err)
	}
	tb.Cleanup(func() {
		p.Kill()
		if tb.Failed() {
			tb.Logf("aws-lambda-rie output:\n%s", p.Output())
		}
	})
	return p
}

// Function is what an example's end-to-end test says of its rotation function.
type Function struct {
	Dir        string   // the command's package directory, for go build
	Strategies []string // ROTATION_STRATEGY values, each a subtest
	// Admin is the value of the master secret: the server's admin account.
	Admin rotasafe.DBSecret
	// NewUser makes a user with a fresh password on the server and returns its secret's
	// value (without MasterARN, which Run sets).
	NewUser func(t *testing.T) rotasafe.DBSecret
	// Login logs in with s and runs a command.
	Login func(ctx context.Context, s rotasafe.DBSecret) error
	// KeepsPrevious says whether AWSPREVIOUS still logs in after a rotation of strategy.
	KeepsPrevious func(strategy string) bool
	// Drop names prefixes of environment variables the function must not inherit ("PG").
	Drop []string
}

// Run builds f, runs it under the emulator for each strategy and has smtest's RotateSecret
// invoke it three times for a new user's secret: each rotation must make the new version
// AWSCURRENT, which must log in (and AWSPREVIOUS too where KeepsPrevious says so), and the
// function's output must hold no password (the admin's, the user's first or a rotated one)
// and log its finishSecret step. It returns every password the secrets held, for the
// caller's search of the server's logs.
func Run(t *testing.T, f Function) (passwords []string) {
	rie := FindRIE(t)
	sm := smtest.New(t)
	client := sm.Client()
	bin := Build(t, f.Dir)
	master := createSecret(t, client, f.Admin)
	for _, strategy := range f.Strategies {
		t.Run(strategy, func(t *testing.T) {
			ctx := t.Context()
			p := Start(t, rie, bin, append(SMEnv(sm.URL), "ROTATION_STRATEGY="+strategy), f.Drop...)
			fn := "arn:aws:lambda:us-east-1:123456789012:function:rotate-" + strings.ToLower(strategy)
			sm.RegisterRotationURL(fn, p.URL)
			user := f.NewUser(t)
			user.MasterARN = master
			passwords = append(passwords, user.Password)
			id := createSecret(t, client, user)
			for i := range 3 {
				rot, err := client.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(id), RotationLambdaARN: aws.String(fn)})
				if err != nil {
					t.Fatal(err)
				}
				if err := sm.LastRotationError(id); err != nil {
					t.Fatalf("rotation %d: %v", i+1, err)
				}
				cur, curID := fetch(t, client, id, rotasafe.StageCurrent)
				if curID != aws.ToString(rot.VersionId) {
					t.Fatalf("rotation %d: AWSCURRENT is version %s, want %s", i+1, curID, aws.ToString(rot.VersionId))
				}
				passwords = append(passwords, cur.Password)
				if err := f.Login(ctx, cur); err != nil {
					t.Fatalf("rotation %d: AWSCURRENT (user %s) does not log in: %v", i+1, cur.Username, err)
				}
				if f.KeepsPrevious != nil && f.KeepsPrevious(strategy) {
					if prev, _ := fetch(t, client, id, rotasafe.StagePrevious); f.Login(ctx, prev) != nil {
						t.Fatalf("rotation %d: AWSPREVIOUS no longer logs in", i+1)
					}
				}
				if strings.Contains(p.Output(), cur.Password) {
					t.Fatalf("rotation %d: the function's output holds the new password", i+1)
				}
			}
			if !strings.Contains(p.Output(), `"step":"finishSecret"`) {
				t.Fatalf("the function logged no finishSecret step:\n%s", p.Output())
			}
			for i, pw := range append([]string{f.Admin.Password}, passwords...) {
				if strings.Contains(p.Output(), pw) {
					t.Errorf("the function's output holds password %d (0: the admin's)", i)
				}
			}
		})
	}
	return passwords
}

// Password returns a fresh random password.
func Password() string { return "pw" + strings.ToLower(rand.Text()) }

// createSecret stores s under a new name and returns its ARN.
func createSecret(t *testing.T, c *secretsmanager.Client, s rotasafe.DBSecret) string {
	t.Helper()
	b, err := s.MarshalSecret()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("db-" + strings.ToLower(rand.Text())), SecretString: aws.String(string(b))})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// fetch reads and parses the version of id that holds stage.
func fetch(t *testing.T, c *secretsmanager.Client, id, stage string) (rotasafe.DBSecret, string) {
	t.Helper()
	v, err := rotasafe.Fetch(t.Context(), c, id, "", stage)
	if err != nil {
		t.Fatal(err)
	}
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		t.Fatal(err)
	}
	return s, v.ID
}
