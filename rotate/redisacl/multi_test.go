package redisacl

import (
	"context"
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
	"github.com/rotasafe/rotasafe/smtest"
)

// keyService is an API-key service in memory: each user holds a set of keys. It shows that
// MultiCredentialStrategy needs nothing of Redis.
type keyService struct {
	mu   sync.Mutex
	keys map[string]map[string]bool // user -> keys
	sets int
}

var errBadKey = errors.New("key rejected")

func (s *keyService) SetValid(_ context.Context, user string, creds []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets++
	s.keys[user] = map[string]bool{}
	for _, c := range creds {
		s.keys[user][c] = true
	}
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

func (s *keyService) valid(user string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.keys[user]))
}

func TestMultiCredentialStrategyOverAnotherService(t *testing.T) {
	t.Parallel()
	sm := smtest.New(t)
	api := sm.Client()
	svc := &keyService{keys: map[string]map[string]bool{"svc-user": {"key-0": true}}}
	b, _ := rotasafe.DBSecret{Host: "api.example.com", Username: "svc-user", Password: "key-0"}.MarshalSecret()
	out, err := api.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("api-key"), SecretString: aws.String(string(b))})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.ARN)
	h := rotate.NewHandler(api, MultiCredentialStrategy(func(*rotate.StepContext, rotasafe.DBSecret) (MultiCredential, error) {
		return svc, nil
	}))

	prev := "key-0"
	for i := 1; i <= 3; i++ {
		if _, err := rotate.Rotate(t.Context(), api, id, h); err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
		v, err := rotasafe.Fetch(t.Context(), api, id, "", rotasafe.StageCurrent)
		if err != nil {
			t.Fatal(err)
		}
		cur, _ := rotasafe.ParseDBSecret([]byte(v.SecretString))
		if got, want := svc.valid("svc-user"), slices.Sorted(slices.Values([]string{prev, cur.Password})); !slices.Equal(got, want) {
			t.Fatalf("rotation %d: %d keys valid, want exactly the previous and the current", i, len(got))
		}
		prev = cur.Password
	}
	if svc.sets != 3 {
		t.Errorf("SetValid ran %d times, want 3", svc.sets)
	}

	// A current key the service rejects stops the rotation before anything changes.
	svc.SetValid(t.Context(), "svc-user", []string{"someone-else"})
	_, err = rotate.Rotate(t.Context(), api, id, h)
	if err == nil || !strings.Contains(err.Error(), "refusing") || strings.Contains(err.Error(), prev) {
		t.Fatalf("got %v, want a refusal that does not hold the key", err)
	}
	if got := svc.valid("svc-user"); !slices.Equal(got, []string{"someone-else"}) {
		t.Errorf("the service changed after a refused rotation")
	}
}
