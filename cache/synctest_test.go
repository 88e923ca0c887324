package cache_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
)

// timedAPI is the real client, recording when (on the bubble's clock) each GetSecretValue
// was sent.
type timedAPI struct {
	rotasafe.API
	mu    sync.Mutex
	start time.Time
	at    []time.Duration
}

func (a *timedAPI) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	a.mu.Lock()
	a.at = append(a.at, time.Since(a.start))
	a.mu.Unlock()
	return a.API.GetSecretValue(ctx, in, optFns...)
}

func (a *timedAPI) times() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.at)
}

// inBubble runs f in a synctest bubble with a client of e's server that keeps no idle
// connections (their goroutines would outlive the bubble), and the default real clock of the
// cache, which inside the bubble is synctest's fake clock: the coarse clock goroutine, the
// jittered TTL and Warm's timers run on it.
func inBubble(t *testing.T, e *env, f func(t *testing.T, api *timedAPI)) {
	synctest.Test(t, func(t *testing.T) {
		client := e.srv.Client(fastRetry, func(o *secretsmanager.Options) {
			o.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		})
		f(t, &timedAPI{API: client, start: time.Now()})
	})
}

func TestSynctestTTLOnTheCoarseClock(t *testing.T) {
	e := newEnv(t)
	v1 := e.create(t, "app/db", "pw-1")
	inBubble(t, e, func(t *testing.T, api *timedAPI) {
		c := cache.New(api) // defaults: TTL 1 h ± 10 %, refresh-ahead in the last 15 %
		defer c.Close()
		if v, err := c.Get(t.Context(), "app/db"); err != nil || v.ID != v1 {
			t.Fatalf("Get: %v, %v", v, err)
		}
		v2 := putWith(t, api.API, "app/db", "pw-2")
		// 45 min is before the earliest refresh-ahead point (0.85 × 0.9 h ≈ 45.9 min).
		time.Sleep(45 * time.Minute)
		if v, _ := c.Get(t.Context(), "app/db"); v.ID != v1 || len(api.times()) != 1 {
			t.Fatalf("at 45 min: got %v after %d calls, want %s after 1", v, len(api.times()), v1)
		}
		// Past the latest expiry (1.1 h): the next read waits for a fetch and sees v2.
		time.Sleep(25 * time.Minute)
		if v, _ := c.Get(t.Context(), "app/db"); v.ID != v2 {
			t.Fatalf("at 70 min: got %v, want %s", v, v2)
		}
		if n := len(api.times()); n != 2 {
			t.Errorf("GetSecretValue calls: got %d, want 2", n)
		}
	})
}

func TestSynctestRefreshAheadKeepsReadersOffIO(t *testing.T) {
	e := newEnv(t)
	e.create(t, "app/db", "pw-1")
	inBubble(t, e, func(t *testing.T, api *timedAPI) {
		c := cache.New(api)
		defer c.Close()
		// A reader every minute for 5 h: only the first read waits for I/O.
		for range 300 {
			if _, err := c.Get(t.Context(), "app/db"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Minute)
		}
		st := c.Stats()
		if st.Misses != 1 {
			t.Errorf("reads that waited: got %d, want 1", st.Misses)
		}
		// One fetch per TTL or so: 5 h / (0.85 × ~1 h) ≈ 6, jitter aside.
		if st.APICalls < 5 || st.APICalls > 8 || st.Refreshes != st.APICalls-1 {
			t.Errorf("stats over 5 h: got %+v, want 5-8 API calls, all but the first refreshes", st)
		}
	})
}

func TestSynctestWarmSpreadsOverTheWindow(t *testing.T) {
	e := newEnv(t)
	ids := make([]string, 20)
	for i := range ids {
		ids[i] = "app/s" + string(rune('a'+i))
		e.create(t, ids[i], "pw-x")
	}
	inBubble(t, e, func(t *testing.T, api *timedAPI) {
		c := cache.New(api, cache.WithWarmWindow(10*time.Second))
		defer c.Close()
		if err := c.Warm(t.Context(), ids...); err != nil {
			t.Fatal(err)
		}
		at := api.times()
		if len(at) != len(ids) {
			t.Fatalf("calls: got %d, want %d", len(at), len(ids))
		}
		distinct := map[time.Duration]bool{}
		for _, d := range at {
			if d < 0 || d >= 10*time.Second {
				t.Errorf("a fetch at %v, outside the 10 s window", d)
			}
			distinct[d] = true
		}
		if len(distinct) < len(ids)/2 {
			t.Errorf("fetch times %v: want them spread, got %d distinct instants", at, len(distinct))
		}
	})
}

// putWith is env.put through another client (inside a bubble, the bubble's own).
func putWith(t *testing.T, api rotasafe.API, id, value string) string {
	t.Helper()
	out, err := api.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: &id, SecretString: &value})
	if err != nil {
		t.Fatalf("PutSecretValue %s: %v", id, err)
	}
	return *out.VersionId
}
