package rotate_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/rotatetest"
	"github.com/rotasafe/rotasafe/smtest"
)

// keyService is an API-key service in memory: each user holds a set of keys, listed by
// themselves (a real service would list hashes or key IDs). It shows that
// MultiCredentialStrategy needs nothing of Redis.
type keyService struct {
	mu   sync.Mutex
	keys map[string]map[string]bool // user -> keys; guarded by mu
}

var errBadKey = errors.New("key rejected")

func (s *keyService) List(_ context.Context, user string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys[user] == nil {
		return nil, errors.New("no such user")
	}
	return slices.Sorted(maps.Keys(s.keys[user])), nil
}

func (s *keyService) Key(cred string) string { return cred }

func (s *keyService) Add(_ context.Context, user, cred string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[user][cred] = true
	return nil
}

func (s *keyService) Remove(_ context.Context, user, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys[user], key)
	return nil
}

func (s *keyService) Test(_ context.Context, user, cred string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.keys[user][cred] {
		return errBadKey
	}
	return nil
}

func (s *keyService) IsRejected(err error) bool { return errors.Is(err, errBadKey) }

func (s *keyService) login(ctx context.Context, secret string) error {
	d, err := rotasafe.ParseDBSecret([]byte(secret))
	if err != nil {
		return err
	}
	return s.Test(ctx, d.Username, d.Password)
}

// accepted lists a digest of each key, as a service shows hashes.
func (s *keyService) accepted(ctx context.Context) ([]string, error) {
	keys, err := s.List(ctx, "svc-user")
	for i, k := range keys {
		h := sha256.Sum256([]byte(k))
		keys[i] = hex.EncodeToString(h[:])
	}
	return keys, err
}

func (s *keyService) opener(*rotate.StepContext, rotasafe.DBSecret) (rotate.MultiCredential, error) {
	return s, nil
}

func TestMultiCredentialStrategyPassesTheKit(t *testing.T) {
	t.Parallel()
	svc := &keyService{keys: map[string]map[string]bool{"svc-user": {"key-0-initial": true}}}
	first, _ := rotasafe.DBSecret{Host: "api.example.com", Username: "svc-user", Password: "key-0-initial"}.MarshalSecret()
	err := rotatetest.TestStrategy(t.Context(), rotate.MultiCredentialStrategy(svc.opener), rotatetest.Config{
		Scenario: rotate.ScenarioMultiCredential, Secret: string(first), Login: svc.login, Accepted: svc.accepted})
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := svc.List(t.Context(), "svc-user"); len(keys) != 2 {
		t.Errorf("the user holds %d keys after the run, want 2 (AWSCURRENT's and AWSPREVIOUS's)", len(keys))
	}
}

// A current key the service rejects stops the rotation before anything changes.
func TestMultiCredentialStrategyRefusesForeignCurrent(t *testing.T) {
	t.Parallel()
	sm := smtest.New(t)
	api := sm.Client()
	svc := &keyService{keys: map[string]map[string]bool{"svc-user": {"someone-else": true}}}
	b, _ := rotasafe.DBSecret{Host: "api.example.com", Username: "svc-user", Password: "key-0-initial"}.MarshalSecret()
	out, err := api.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("api-key"), SecretString: aws.String(string(b))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = rotate.NewHandler(api, rotate.MultiCredentialStrategy(svc.opener)).Rotate(t.Context(), aws.ToString(out.ARN))
	if err == nil || !strings.Contains(err.Error(), "refusing") || strings.Contains(err.Error(), "key-0-initial") {
		t.Fatalf("got %v, want a refusal that does not hold the key", err)
	}
	if got, _ := svc.List(t.Context(), "svc-user"); !slices.Equal(got, []string{"someone-else"}) {
		t.Errorf("the service changed after a refused rotation")
	}
}
