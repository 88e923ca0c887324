package rotate

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/fixture"
	"github.com/rotasafe/rotasafe/internal/testserver/noticetest"
	"github.com/rotasafe/rotasafe/internal/testserver/redistest"
	"github.com/rotasafe/rotasafe/notice"
	"github.com/rotasafe/rotasafe/notice/redisnotice"
)

// publisherFunc makes a function a notice.Publisher.
type publisherFunc func(ctx context.Context, n notice.Notice) error

func (f publisherFunc) Publish(ctx context.Context, n notice.Notice) error { return f(ctx, n) }

// TestNoticesOverRedis rotates a secret named by its name through a real redis-server: a
// subscriber gets the three notices of each rotation in order, naming the secret's ARN and
// the rotation's version, and nothing else.
func TestNoticesOverRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, Username: rs.AdminUser, Password: rs.AdminPassword, DisableIdentity: true})
	defer rdb.Close()
	tr := redisnotice.New(rdb)
	in := noticetest.Listen(t, tr)
	noticetest.Ready(t, tr, in)

	_, c, svc, arn := newKeyEnv(t)
	h := NewHandler(nil, keyStrategy{svc}, WithNotices(tr))
	for i := range 3 {
		token, err := Rotate(t.Context(), c, t.Name(), h) // by name: the notices still carry the ARN
		if err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		for _, kind := range []notice.Kind{notice.PendingStored, notice.PasswordChanged, notice.Finished} {
			n := in.Next(t)
			if n.Kind != kind || n.SecretARN != arn || n.VersionID != token || n.At.IsZero() {
				t.Fatalf("rotation %d: got %v at %v, want %s of version %s of %s", i+1, n, n.At, kind, token, arn)
			}
		}
	}
}

// TestPasswordChangedNotice checks on PostgreSQL that each notice is published when its
// promise holds: at PendingStored AWSPENDING exists but does not log in; at PasswordChanged
// it logs in and the old AWSCURRENT no longer does; at Finished it is AWSCURRENT.
func TestPasswordChangedNotice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.newSecret(scenarios[0], "")
	var kinds []notice.Kind
	check := publisherFunc(func(ctx context.Context, n notice.Notice) error {
		kinds = append(kinds, n.Kind)
		l := e.labels(id)
		pending, _ := e.fetch(id, rotasafe.StagePending)
		switch n.Kind {
		case notice.PendingStored:
			if !l.Has(n.VersionID, rotasafe.StagePending) || e.login(ctx, pending) == nil {
				t.Errorf("at %s: AWSPENDING is not %s, or logs in already", n.Kind, n.VersionID)
			}
		case notice.PasswordChanged:
			if e.login(ctx, pending) != nil || e.stageLogsIn(id, rotasafe.StageCurrent) {
				t.Errorf("at %s: AWSPENDING does not log in, or AWSCURRENT still does", n.Kind)
			}
		case notice.Finished:
			if !l.Has(n.VersionID, rotasafe.StageCurrent) {
				t.Errorf("at %s: %s is not AWSCURRENT", n.Kind, n.VersionID)
			}
		}
		return nil
	})
	h := NewHandler(nil, PostgresSingleUser(WithTLSMode(TLSDisable)), WithNotices(check))
	for i := range 2 {
		if _, err := Rotate(t.Context(), e.api, id, h); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
	}
	want := []notice.Kind{notice.PendingStored, notice.PasswordChanged, notice.Finished, notice.PendingStored, notice.PasswordChanged, notice.Finished}
	if !slices.Equal(kinds, want) {
		t.Fatalf("got notices %v, want %v", kinds, want)
	}
}

// TestNoticesBestEffort: a publisher that fails, hangs until its context ends, or panics
// never fails a step; each failure is logged without a value. The same with a real
// redis-server that has gone away.
func TestNoticesBestEffort(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, Username: rs.AdminUser, Password: rs.AdminPassword, DisableIdentity: true, MaxRetries: -1})
	defer rdb.Close()
	rs.Admin(t).Do(t.Context(), "SHUTDOWN", "NOSAVE") // the server exits; the reply is lost

	for name, p := range map[string]notice.Publisher{
		"error": publisherFunc(func(context.Context, notice.Notice) error { return errors.New("transport down") }),
		"hang": publisherFunc(func(ctx context.Context, _ notice.Notice) error {
			<-ctx.Done()
			return ctx.Err()
		}),
		"panic":      publisherFunc(func(context.Context, notice.Notice) error { panic("publisher bug") }),
		"redis down": redisnotice.New(rdb),
		"nil":        nil,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, c, svc, id := newKeyEnv(t)
			var buf fixture.Buffer
			h := NewHandler(nil, keyStrategy{svc}, WithNotices(p), WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
			token, err := Rotate(t.Context(), c, id, h)
			if err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			if !s.Stages(id).Has(token, rotasafe.StageCurrent) {
				t.Fatal("the rotation did not finish")
			}
			logs := buf.String()
			if got, want := strings.Count(logs, "could not publish the rotation notice"), 3; p != nil && got != want {
				t.Fatalf("got %d failed notices logged, want %d:\n%s", got, want, logs)
			}
			cur, err := rotasafe.Fetch(t.Context(), c, id, "", rotasafe.StageCurrent)
			if err != nil {
				t.Fatal(err)
			}
			key, _ := keyOf(cur)
			if strings.Contains(logs, key) {
				t.Fatal("the log holds the secret value")
			}
		})
	}
}

// TestNoticeOnRetriedCreate: createSecret run again after it stored AWSPENDING publishes
// again (a duplicate, which listeners absorb), since the first notice may have been lost.
func TestNoticeOnRetriedCreate(t *testing.T) {
	t.Parallel()
	_, c, svc, id := newKeyEnv(t)
	var mu sync.Mutex
	var got []notice.Notice
	h := NewHandler(nil, keyStrategy{svc}, WithNotices(publisherFunc(func(_ context.Context, n notice.Notice) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, n)
		return nil
	})))
	if _, err := drive(t.Context(), c, id, h, 2); err != nil {
		t.Fatal(err)
	}
	var kinds []notice.Kind
	for _, n := range got {
		kinds = append(kinds, n.Kind)
	}
	// Each step ran twice; the second finishSecret finds AWSCURRENT moved and does nothing.
	want := []notice.Kind{notice.PendingStored, notice.PendingStored, notice.PasswordChanged, notice.PasswordChanged, notice.Finished}
	if !slices.Equal(kinds, want) {
		t.Fatalf("got %v, want %v", kinds, want)
	}
	out, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range got {
		if n.SecretARN != aws.ToString(out.ARN) || n.VersionID != got[0].VersionID {
			t.Fatalf("notice %v does not name the secret and the rotation", n)
		}
	}
}
