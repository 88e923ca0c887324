package rotate

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
)

// lockRefs returns the number of callers holding or waiting for the lock of arn, and whether
// the map has an entry for it.
func lockRefs(arn string) (int, bool) {
	rotating.mu.Lock()
	defer rotating.mu.Unlock()
	l, ok := rotating.locks[arn]
	if !ok {
		return 0, false
	}
	return l.refs, true
}

// TestLockSecretReleases checks that a secret's entry in the lock map lives exactly while a
// caller holds or waits for it: a waiter whose context ends and the last holder both let go.
func TestLockSecretReleases(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lock-release"
		unlock, err := lockSecret(t.Context(), arn)
		if err != nil {
			t.Fatal(err)
		}

		gone, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := lockSecret(gone, arn); !errors.Is(err, context.Canceled) {
			t.Fatalf("waiter with a cancelled context: got %v, want context.Canceled", err)
		}
		if n, _ := lockRefs(arn); n != 1 {
			t.Fatalf("after the cancelled waiter left: got %d references, want 1 (the holder)", n)
		}

		acquired := make(chan func())
		go func() {
			u, err := lockSecret(t.Context(), arn)
			if err != nil {
				t.Error(err)
				close(acquired)
				return
			}
			acquired <- u
		}()
		synctest.Wait()
		select {
		case <-acquired:
			t.Fatal("a second caller got the lock while the first held it")
		default:
		}
		if n, _ := lockRefs(arn); n != 2 {
			t.Fatalf("with a holder and a waiter: got %d references, want 2", n)
		}
		unlock()
		unlock2 := <-acquired
		if unlock2 == nil {
			t.FailNow()
		}
		if n, _ := lockRefs(arn); n != 1 {
			t.Fatalf("after the hand-over: got %d references, want 1", n)
		}
		unlock2()
		if n, ok := lockRefs(arn); ok {
			t.Fatalf("after the last holder let go: the map still has the secret (%d references)", n)
		}
	})
}

// TestRotateReleasesLock runs overlapping rotations of one secret, by name and by ARN, and
// checks that the lock map holds nothing for it afterwards.
func TestRotateReleasesLock(t *testing.T) {
	t.Parallel()
	s, c, svc, arn := newKeyEnv(t)
	h := NewHandler(c, keyStrategy{svc}, WithLogger(nil))
	var wg sync.WaitGroup
	for i := range 4 {
		id := arn
		if i%2 == 0 {
			id = t.Name()
		}
		wg.Go(func() {
			if _, err := h.Rotate(t.Context(), id); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n, ok := lockRefs(arn); ok {
		t.Fatalf("after every rotation returned: the map still has the secret (%d references)", n)
	}
	if got := s.Calls("PutSecretValue"); got != 4 {
		t.Fatalf("got %d PutSecretValue calls, want 4 (one per rotation, none overlapping)", got)
	}
}
