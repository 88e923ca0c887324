package redisacl

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/redistest"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/rotatetest"
)

// TestStrategyPassesTheKit proves Strategy with package rotatetest on a real Redis server:
// rotations, replays, interruption at every Secrets Manager call and between steps, no side
// effects of Create and Test, no value in an error, a log line or ACL LIST.
func TestStrategyPassesTheKit(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	user, pw := redistest.UniqueName("app"), redistest.Password(t)
	rs.CreateUser(t, user, pw)
	secret := func(user, pw, master string) string {
		b, err := rotasafe.DBSecret{Engine: "redis", Host: rs.Host, Port: rs.Port, Username: user, Password: pw, MasterARN: master}.MarshalSecret()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	admin := rs.Admin(t)
	err := rotatetest.TestStrategy(t.Context(), Strategy(), rotatetest.Config{
		Scenario: rotate.ScenarioMultiCredential,
		Secret:   secret(user, pw, "redis-admin"),
		Secrets:  map[string]string{"redis-admin": secret(rs.AdminUser, rs.AdminPassword, "")},
		Login: func(ctx context.Context, value string) error {
			s, err := rotasafe.ParseDBSecret([]byte(value))
			if err != nil {
				return err
			}
			c := redis.NewClient(&redis.Options{Addr: rs.Addr, Username: s.Username, Password: s.Password, MaxRetries: -1, PoolSize: 1, DisableIdentity: true})
			defer c.Close()
			return c.Ping(ctx).Err()
		},
		Accepted: func(ctx context.Context) ([]string, error) { return admin.Do(ctx, "ACL", "LIST").StringSlice() },
	})
	if err != nil {
		t.Fatal(err)
	}
	u := rs.GetUser(t, user)
	if len(u.Passwords) != 2 || u.Rest != rs.RulesOf(t) {
		t.Errorf("after the run %s holds %d password hashes, want 2 (AWSCURRENT's and AWSPREVIOUS's), and rules %s, want %s", user, len(u.Passwords), u.Rest, rs.RulesOf(t))
	}
}
