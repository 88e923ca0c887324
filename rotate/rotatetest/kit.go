package rotatetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/smtest"
)

// Config is what the kit needs besides the Strategy: the secret, the scenario the strategy
// claims, and how to reach the service.
type Config struct {
	// Scenario is the scenario the strategy claims; it says whether AWSCURRENT must log in
	// throughout a rotation and AWSPREVIOUS after it. Required.
	Scenario rotate.Scenario
	// Secret is the first value of the rotated secret (its SecretString), as AWSCURRENT; its
	// credentials must log in. Required.
	Secret string
	// Secrets are other secrets the strategy reads, by name: the admin secret a "masterarn"
	// field names, say. Secret names them by these names.
	Secrets map[string]string
	// Login tries the credentials of one value of the rotated secret against the service: nil
	// when they log in, an error when the service refuses them. It must change nothing, and
	// is called often: keep it quick. Required.
	Login func(ctx context.Context, secret string) error
	// Accepted, when set, lists what the service accepts now (each user with a hash of each
	// credential it holds, its grants, ...), in any order. The kit compares lists taken
	// before and after a step that must change nothing, and never prints them.
	Accepted func(ctx context.Context) ([]string, error)
	// Values returns the parts of a value of a secret that must never appear in an error or
	// a log line. Nil means the "password" field of a JSON object, else the whole value.
	Values func(secret string) []string
	// Rotations is the number of full rotations of the first check: 0 means 4.
	Rotations int
	// HandlerOptions configure the rotate.Handler (password options, ...). The kit adds
	// rotate.WithLogger last, to read the handler's log.
	HandlerOptions []rotate.Option
}

// TestStrategy runs the strategy s through the checks of the package comment against an
// smtest.Server of its own and the service cfg reaches, and returns every broken invariant
// (each a *Failure, joined), or nil. It returns at the first check after which the secret is
// left without a working AWSCURRENT.
//
// The service must be in the state Secret describes, and s must not be shared with another
// test while TestStrategy runs.
func TestStrategy(ctx context.Context, s rotate.Strategy, cfg Config) error {
	switch {
	case s == nil:
		return errors.New("rotatetest: nil Strategy")
	case cfg.Login == nil:
		return errors.New("rotatetest: Config.Login is nil")
	case cfg.Scenario < rotate.ScenarioSingleUser || cfg.Scenario > rotate.ScenarioMultiCredential:
		return fmt.Errorf("rotatetest: Config.Scenario %v is not a scenario", cfg.Scenario)
	case cfg.Secret == "":
		return errors.New("rotatetest: Config.Secret is empty")
	}
	if cfg.Rotations <= 0 {
		cfg.Rotations = 4
	}
	if cfg.Values == nil {
		cfg.Values = passwordField
	}
	srv := smtest.NewServer()
	defer srv.Close()
	r := &run{ctx: ctx, cfg: cfg, srv: srv, fn: "arn:aws:lambda:us-east-1:123456789012:function:rotatetest"}
	r.api = srv.Client(func(o *secretsmanager.Options) { o.Retryer = aws.NopRetryer{} })
	r.obs = &observer{s: s, r: r}
	opts := append(append([]rotate.Option(nil), cfg.HandlerOptions...),
		rotate.WithLogger(slog.New(slog.NewTextHandler(&r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	r.h = rotate.NewHandler(r.api, r.obs, opts...)
	srv.RegisterRotationFunc(r.fn, r.invoke)
	if err := r.setup(); err != nil {
		return err
	}

	var failures []error
	for _, c := range checks {
		r.check = c.name
		if f := c.run(r); f != nil {
			failures = append(failures, f)
			if !r.recover() {
				break
			}
		}
	}
	failures = append(failures, r.leaks()...)
	return errors.Join(failures...)
}

// checks are the kit's checks in the order they run.
var checks = []struct {
	name string
	run  func(*run) *Failure
}{
	{"rotations", (*run).rotations},
	{"steps run twice", (*run).stepsTwice},
	{"steps replayed after the next", (*run).replays},
	{"interrupted at every Secrets Manager call", (*run).interruptCalls},
	{"interrupted between steps", (*run).interruptSteps},
	{"concurrent rotations", (*run).concurrent},
}

// run is one TestStrategy call: the server, the secret and what the run has seen.
type run struct {
	ctx context.Context
	cfg Config
	srv *smtest.Server
	api *secretsmanager.Client // does not retry: every injected fault reaches the handler
	h   *rotate.Handler
	obs *observer
	fn  string // the Lambda ARN the rotation function is registered under
	id  string // the ARN of the rotated secret
	log fixture.Buffer

	check string // the check running; set between rotations only

	mu        sync.Mutex
	driver    func(ctx context.Context, ev rotasafe.Event) error // guarded by mu; nil: one plain step
	point     string                                             // guarded by mu: where the check is
	watch     bool                                               // guarded by mu: check Create and Test for side effects
	known     []string                                           // guarded by mu: recent values of the secret
	errs      []stepError                                        // guarded by mu: every error a step returned
	failures  []*Failure                                         // guarded by mu: found inside a step
	rotation  int                                                // guarded by mu: tokens made so far
	lastCalls int                                                // guarded by mu: Secrets Manager calls of the last clean rotation
	listed    map[string]bool                                    // guarded by mu: every entry Config.Accepted listed
	seen      map[string]bool                                    // guarded by mu: every value of the secret so far
	// needleCache is every form of every value, once collectNeedles ran; guarded by mu.
	needleCache []string
}

// stepError is an error a step returned, with where it was seen, for the leak check.
type stepError struct {
	step, check, point, msg string
}

// setup stores the secrets and checks that the first value logs in.
func (r *run) setup() error {
	for name, v := range r.cfg.Secrets {
		if _, err := r.api.CreateSecret(r.ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(v)}); err != nil {
			return fmt.Errorf("rotatetest: store secret %s: %w", name, err)
		}
	}
	out, err := r.api.CreateSecret(r.ctx, &secretsmanager.CreateSecretInput{Name: aws.String("rotatetest/rotated"), SecretString: aws.String(r.cfg.Secret)})
	if err != nil {
		return fmt.Errorf("rotatetest: store the secret: %w", err)
	}
	r.id = aws.ToString(out.ARN)
	if err := r.cfg.Login(r.ctx, r.cfg.Secret); err != nil {
		return fmt.Errorf("rotatetest: Config.Secret does not log in: %s", r.redact(err))
	}
	r.remember(r.cfg.Secret)
	return nil
}

// invoke is the rotation function smtest's RotateSecret calls for each step.
func (r *run) invoke(ctx context.Context, ev rotasafe.Event) error {
	r.mu.Lock()
	d := r.driver
	r.mu.Unlock()
	if d != nil {
		return d(ctx, ev)
	}
	return r.step(ctx, ev)
}

// step runs one step through the handler and records its error.
func (r *run) step(ctx context.Context, ev rotasafe.Event) error {
	err := r.h.Handle(ctx, ev)
	if err != nil {
		r.mu.Lock()
		r.errs = append(r.errs, stepError{step: ev.Step, check: r.check, point: r.point, msg: err.Error()})
		r.mu.Unlock()
	}
	return err
}

// setDriver makes d run each step (nil: the plain step) and names the point the check is at.
func (r *run) setDriver(point string, d func(ctx context.Context, ev rotasafe.Event) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.driver, r.point = d, point
}

// fail records a failure found inside a step.
func (r *run) fail(step, invariant, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, &Failure{Check: r.check, Step: step, Point: r.point, Invariant: invariant, Detail: detail})
}

// takeFailure returns the first failure found inside a step since the last call, if any.
func (r *run) takeFailure() *Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) == 0 {
		return nil
	}
	f := r.failures[0]
	r.failures = nil
	return f
}

// failure is a failure of the running check at point.
func (r *run) failure(point, step, invariant, format string, args ...any) *Failure {
	return &Failure{Check: r.check, Step: step, Point: point, Invariant: invariant, Detail: fmt.Sprintf(format, args...)}
}

// newToken returns a fresh ClientRequestToken.
func (r *run) newToken() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rotation++
	return fmt.Sprintf("rotatetest-%08d-0000-4000-8000-000000000000", r.rotation)
}

// rotateSecret starts a rotation with token as Secrets Manager does and returns the error of
// the request, else the error the rotation ended with.
func (r *run) rotateSecret(token string) error {
	_, err := r.api.RotateSecret(r.ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String(r.id), ClientRequestToken: aws.String(token), RotationLambdaARN: aws.String(r.fn)})
	if err != nil {
		return err
	}
	return r.srv.LastRotationError(r.id)
}

// remember records v as a value of the secret that Create and Test must leave as it logs in.
func (r *run) remember(vs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range vs {
		if v == "" || containsString(r.known, v) {
			continue
		}
		r.known = append(r.known, v)
		if len(r.known) > 3 {
			r.known = r.known[1:]
		}
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// accepted calls Config.Accepted and keeps its entries for the leak check.
func (r *run) accepted(ctx context.Context) ([]string, error) {
	list, err := r.cfg.Accepted(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.listed == nil {
		r.listed = map[string]bool{}
	}
	for _, l := range list {
		r.listed[l] = true
	}
	return list, err
}

// value returns the value of the version holding stage; ok is false when there is none.
func (r *run) value(stage string) (string, bool, error) {
	v, err := rotasafe.Fetch(r.ctx, r.api, r.id, "", stage)
	switch {
	case rotasafe.IsNotFound(err):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return v.SecretString, true, nil
}

// redact returns err's message, or a note in its place when it holds a value of a secret.
func (r *run) redact(err error) string {
	msg := err.Error()
	r.collectNeedles()
	for _, n := range r.needles() {
		if strings.Contains(msg, n) {
			return "(an error that holds a value of the secret; not shown)"
		}
	}
	return msg
}

// passwordField is the default Config.Values: the "password" field of a JSON object, else
// the whole value.
func passwordField(secret string) []string {
	var obj map[string]any
	if json.Unmarshal([]byte(secret), &obj) != nil {
		return []string{secret}
	}
	if pw, ok := obj["password"].(string); ok {
		return []string{pw}
	}
	return nil
}
