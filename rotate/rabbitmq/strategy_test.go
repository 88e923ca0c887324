package rabbitmq

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/rabbittest"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/rotatetest"
)

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h := PasswordHash("foobar")
	if !hashMatches(h, HashingAlgorithm, "foobar") || hashMatches(h, HashingAlgorithm, "foobaz") || hashMatches(h, "rabbit_password_hashing_md5", "foobar") {
		t.Fatal("hashMatches does not tell the password apart")
	}
	if PasswordHash("foobar") == h {
		t.Fatal("two hashes of one password share a salt")
	}
}

// capture records the values Create makes, to look for them in the broker's log.
type capture struct {
	rotate.Strategy
	mu     sync.Mutex
	values []string // guarded by mu
}

func (c *capture) Create(ctx context.Context, sc *rotate.StepContext) (string, error) {
	v, err := c.Strategy.Create(ctx, sc)
	if s, perr := rotasafe.ParseDBSecret([]byte(v)); err == nil && perr == nil {
		c.mu.Lock()
		c.values = append(c.values, s.Password)
		c.mu.Unlock()
	}
	return v, err
}

// recorder keeps every request body the strategy sends to the management API.
type recorder struct {
	mu     sync.Mutex
	bodies []string // guarded by mu
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.bodies, "\n")
}

// broker is one node and what the tests of the package need around it.
type broker struct {
	rs *rabbittest.Server
}

// secret is the JSON secret of user on the node, masterarn naming master.
func (b broker) secret(user, pw, master string) string {
	m := map[string]any{"engine": "rabbitmq", "host": b.rs.Host, "port": b.rs.AMQPPort, "username": user, "password": pw,
		"management_url": b.rs.MgmtURL, "note": "kept"}
	if master != "" {
		m["masterarn"] = master
	}
	out, _ := json.Marshal(m)
	return string(out)
}

// stored reports whether user's stored hash is password's, as the admin reads it.
func (b broker) stored(ctx context.Context, user, password string) (bool, error) {
	var u struct {
		Hash string `json:"password_hash"`
		Alg  string `json:"hashing_algorithm"`
	}
	err := b.rs.Do(ctx, http.MethodGet, "/api/users/"+url.PathEscape(user), nil, &u)
	if err != nil && strings.Contains(err.Error(), "404") {
		return false, nil
	}
	return err == nil && hashMatches(u.Hash, u.Alg, password), err
}

// login is the kit's Config.Login: the stored hash first (a refused AMQP login costs the
// broker's seconds-long delay), then a real AMQP login for a hash that matches.
func (b broker) login(ctx context.Context, value string) error {
	s, err := rotasafe.ParseDBSecret([]byte(value))
	if err != nil {
		return err
	}
	ok, err := b.stored(ctx, s.Username, s.Password)
	switch {
	case err != nil:
		return err
	case !ok:
		return errors.New("the broker holds another password for the user")
	}
	conn, err := amqp.Dial(b.rs.AMQPURL(s.Username, s.Password))
	if err != nil {
		return err
	}
	return conn.Close()
}

// accepted lists the users of the pair as the broker keeps them: hash, tags, permissions.
func (b broker) accepted(users ...string) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		var out []string
		for _, u := range users {
			for _, path := range []string{"/api/users/", "/api/users/%s/permissions", "/api/users/%s/topic-permissions"} {
				var v any
				p := path + url.PathEscape(u)
				if strings.Contains(path, "%s") {
					p = fmt.Sprintf(path, url.PathEscape(u))
				}
				err := b.rs.Do(ctx, http.MethodGet, p, nil, &v)
				if err != nil && !strings.Contains(err.Error(), "404") {
					return nil, err
				}
				j, _ := json.Marshal(v)
				out = append(out, u+" "+p+" "+string(j))
			}
		}
		return out, nil
	}
}

func TestStrategyPassesTheKit(t *testing.T) {
	t.Parallel()
	b := broker{rabbittest.New(t)}
	ctx := t.Context()
	user, pw := "app-"+rand.Text()[:8], rand.Text()
	if err := b.rs.CreateUser(ctx, user, pw); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	strategy := &capture{Strategy: Strategy(WithHTTPClient(&http.Client{Transport: rec}))}
	err := rotatetest.TestStrategy(ctx, strategy, rotatetest.Config{
		Scenario: rotate.ScenarioAlternatingUsers,
		Secret:   b.secret(user, pw, "rabbit-admin"),
		Secrets:  map[string]string{"rabbit-admin": b.secret(b.rs.AdminUser, b.rs.AdminPassword, "")},
		Login:    b.login,
		Accepted: b.accepted(user, user+"_clone"),
	})
	if err != nil {
		t.Fatal(err)
	}

	// The clone holds the original's tags and permissions.
	acc, err := b.accepted(user, user+"_clone")(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		orig, clone := acc[i][strings.Index(acc[i], " ["):], acc[3+i][strings.Index(acc[3+i], " ["):]
		if strings.ReplaceAll(clone, user+"_clone", user) != orig {
			t.Errorf("the clone's %s differ from the original's", []string{"", "permissions", "topic permissions"}[i])
		}
	}
	var cu struct {
		Tags []string `json:"tags"`
	}
	if err := b.rs.Do(ctx, http.MethodGet, "/api/users/"+user+"_clone", nil, &cu); err != nil || !slices.Equal(cu.Tags, []string{"monitoring"}) {
		t.Errorf("the clone's tags: got %v (%v), want [monitoring]", cu.Tags, err)
	}

	// No password in what the management API received, nor in the broker's log.
	bodies := rec.all()
	if !strings.Contains(bodies, `"password_hash"`) || strings.Contains(bodies, `"password":`) {
		t.Error("the management API received a plaintext password field, or no password_hash")
	}
	log, err := b.rs.ReadLog()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "[debug]") {
		t.Error("the broker's log holds no debug line")
	}
	strategy.mu.Lock()
	passwords := append(strategy.values, pw, b.rs.AdminPassword)
	strategy.mu.Unlock()
	for i, p := range passwords {
		if strings.Contains(log, p) || strings.Contains(bodies, p) {
			t.Errorf("password %d of %d is in the broker's log or a request body", i, len(passwords))
		}
	}
	t.Logf("%d passwords made; none in %d management API request bodies (%d bytes) or the broker's debug log (%d bytes)",
		len(passwords)-2, strings.Count(bodies, "\n")+1, len(bodies), len(log))
}
