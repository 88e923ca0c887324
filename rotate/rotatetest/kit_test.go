package rotatetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/rotate"
)

// keyService is a service in memory whose users each hold a set of passwords: the service
// under test is ours to fake (Secrets Manager stays the real smtest).
type keyService struct {
	mu    sync.Mutex
	users map[string]map[string]bool // guarded by mu
}

var errRejected = errors.New("keyservice: credentials rejected")

func newKeyService(user, password string) *keyService {
	return &keyService{users: map[string]map[string]bool{user: {password: true}}}
}

func (s *keyService) accepts(user, password string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[user][password]
}

func (s *keyService) add(user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[user] == nil {
		s.users[user] = map[string]bool{}
	}
	s.users[user][password] = true
}

func (s *keyService) remove(user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users[user], password)
}

// login is Config.Login: the secret is the database secret JSON.
func (s *keyService) login(_ context.Context, secret string) error {
	d, err := rotasafe.ParseDBSecret([]byte(secret))
	if err != nil {
		return err
	}
	if !s.accepts(d.Username, d.Password) {
		return fmt.Errorf("user %s: %w", d.Username, errRejected)
	}
	return nil
}

// accepted is Config.Accepted: each user with the hash of each password it holds.
func (s *keyService) accepted(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for u, pws := range s.users {
		for pw := range pws {
			h := sha256.Sum256([]byte(pw))
			out = append(out, u+":"+hex.EncodeToString(h[:]))
		}
	}
	return out, nil
}

// singleUser is a single-user strategy on a keyService, correct unless broken names a fault.
type singleUser struct {
	svc    *keyService
	broken string
}

func parsePair(sc *rotate.StepContext) (cur, pend rotasafe.DBSecret, err error) {
	if cur, err = rotasafe.ParseDBSecret([]byte(sc.Current.SecretString)); err != nil {
		return
	}
	if sc.Pending.SecretString != "" {
		pend, err = rotasafe.ParseDBSecret([]byte(sc.Pending.SecretString))
	}
	return
}

func (s *singleUser) Create(ctx context.Context, sc *rotate.StepContext) (string, error) {
	cur, _, err := parsePair(sc)
	if err != nil {
		return "", err
	}
	if cur.Password, err = sc.NewPassword(ctx); err != nil {
		return "", err
	}
	if s.broken == "create changes the service" {
		s.svc.add(cur.Username, cur.Password)
	}
	b, err := cur.MarshalSecret()
	return string(b), err
}

func (s *singleUser) Set(ctx context.Context, sc *rotate.StepContext) error {
	cur, pend, err := parsePair(sc)
	if err != nil {
		return err
	}
	if s.svc.accepts(pend.Username, pend.Password) {
		if s.broken == "set fails when run twice" {
			return errors.New("the password is set already")
		}
		return nil
	}
	switch s.broken {
	case "error holds the password":
		if _, _, err := sc.Previous(ctx); err != nil {
			return fmt.Errorf("set password %s: %w", pend.Password, err)
		}
	case "set leaves nothing when interrupted":
		s.svc.remove(cur.Username, cur.Password)
		if _, _, err := sc.Previous(ctx); err != nil {
			return err
		}
	}
	s.svc.mu.Lock()
	s.svc.users[pend.Username] = map[string]bool{pend.Password: true}
	s.svc.mu.Unlock()
	return nil
}

func (s *singleUser) Test(ctx context.Context, sc *rotate.StepContext) error {
	cur, _, err := parsePair(sc)
	if err != nil {
		return err
	}
	if s.broken == "test changes the service" {
		s.svc.add(cur.Username, cur.Password)
	}
	return s.svc.login(ctx, sc.Pending.SecretString)
}

// config is the kit's Config for a strategy on svc with user app.
func config(svc *keyService, scenario rotate.Scenario, withAccepted bool) Config {
	first, _ := rotasafe.DBSecret{Host: "keys.example", Username: "app", Password: "first-password-0"}.MarshalSecret()
	cfg := Config{Scenario: scenario, Secret: string(first), Login: svc.login}
	if withAccepted {
		cfg.Accepted = svc.accepted
	}
	return cfg
}

func TestCorrectStrategyPasses(t *testing.T) {
	t.Parallel()
	for _, accepted := range []bool{false, true} {
		t.Run(fmt.Sprintf("accepted=%v", accepted), func(t *testing.T) {
			t.Parallel()
			svc := newKeyService("app", "first-password-0")
			if err := TestStrategy(t.Context(), &singleUser{svc: svc}, config(svc, rotate.ScenarioSingleUser, accepted)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBrokenStrategiesAreReported(t *testing.T) {
	t.Parallel()
	tests := []struct {
		broken    string
		step      string
		invariant string
	}{
		{"set fails when run twice", rotasafe.StepSetSecret, InvariantRepeatable},
		{"create changes the service", rotasafe.StepCreateSecret, InvariantCreateNoChange},
		{"test changes the service", rotasafe.StepTestSecret, InvariantTestNoChange},
		{"error holds the password", rotasafe.StepSetSecret, InvariantNoLeak},
		{"set leaves nothing when interrupted", rotasafe.StepSetSecret, InvariantWorking},
	}
	for _, tt := range tests {
		t.Run(tt.broken, func(t *testing.T) {
			t.Parallel()
			svc := newKeyService("app", "first-password-0")
			err := TestStrategy(t.Context(), &singleUser{svc: svc, broken: tt.broken}, config(svc, rotate.ScenarioSingleUser, false))
			if err == nil {
				t.Fatalf("got no failure, want %q broken in %s", tt.invariant, tt.step)
			}
			var found bool
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var f *Failure
				if errors.As(e, &f) && f.Step == tt.step && f.Invariant == tt.invariant {
					found = true
					if !strings.Contains(f.Error(), tt.step) || !strings.Contains(f.Error(), tt.invariant) {
						t.Errorf("the message %q does not name the step and the invariant", f.Error())
					}
				}
			}
			if !found {
				t.Fatalf("got %v\nwant a failure of %q in %s", err, tt.invariant, tt.step)
			}
			t.Log(err)
		})
	}
}

// TestFailuresHoldNoValue checks the kit's own messages: a broken strategy's failures never
// print a value of the secret.
func TestFailuresHoldNoValue(t *testing.T) {
	t.Parallel()
	svc := newKeyService("app", "first-password-0")
	err := TestStrategy(t.Context(), &singleUser{svc: svc, broken: "error holds the password"}, config(svc, rotate.ScenarioSingleUser, false))
	if err == nil {
		t.Fatal("got no failure")
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	for _, pws := range svc.users {
		for pw := range pws {
			if strings.Contains(err.Error(), pw) {
				t.Fatal("a failure's message holds a password")
			}
		}
	}
	if strings.Contains(err.Error(), "first-password-0") {
		t.Fatal("a failure's message holds the first password")
	}
}

func TestWrongScenarioIsReported(t *testing.T) {
	t.Parallel()
	svc := newKeyService("app", "first-password-0")
	err := TestStrategy(t.Context(), &singleUser{svc: svc}, config(svc, rotate.ScenarioMultiCredential, false))
	var f *Failure
	if !errors.As(err, &f) || f.Invariant != InvariantCurrentWorks && f.Invariant != InvariantPrevious {
		t.Fatalf("got %v, want a single-user strategy refused as multi-credential", err)
	}
}

func TestSingleUserClaimingAlternatingIsReported(t *testing.T) {
	t.Parallel()
	svc := newKeyService("app", "first-password-0")
	err := TestStrategy(t.Context(), &singleUser{svc: svc}, config(svc, rotate.ScenarioAlternatingUsers, false))
	var f *Failure
	if !errors.As(err, &f) || f.Invariant != InvariantPrevious && f.Invariant != InvariantAlternates {
		t.Fatalf("got %v, want a single-user strategy refused as alternating", err)
	}
}
