package rotate

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe/notice"
)

// TestNoticeLead: with a lead the handler announces ahead: PendingStored carries the lead and
// the next step starts no sooner than the lead after it; PasswordChanging comes before the
// password change, at least the settle before PasswordChanged.
func TestNoticeLead(t *testing.T) {
	t.Parallel()
	_, c, svc, id := newKeyEnv(t)
	type seen struct {
		n  notice.Notice
		at time.Time
	}
	var mu sync.Mutex
	var got []seen
	const lead, settle = 80 * time.Millisecond, 30 * time.Millisecond
	h := NewHandler(nil, keyStrategy{svc}, WithNoticeLead(lead), WithNoticeSettle(settle),
		WithNotices(publisherFunc(func(_ context.Context, n notice.Notice) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, seen{n, time.Now()})
			return nil
		})))
	if _, err := Rotate(t.Context(), c, id, h); err != nil {
		t.Fatal(err)
	}
	var kinds []notice.Kind
	for _, g := range got {
		kinds = append(kinds, g.n.Kind)
	}
	want := []notice.Kind{notice.PendingStored, notice.PasswordChanging, notice.PasswordChanged, notice.Finished}
	if !slices.Equal(kinds, want) {
		t.Fatalf("got %v, want %v", kinds, want)
	}
	if got[0].n.Lead != lead || got[1].n.Lead != 0 {
		t.Errorf("got leads %v and %v, want %v on pending-stored only", got[0].n.Lead, got[1].n.Lead, lead)
	}
	if d := got[1].at.Sub(got[0].at); d < lead {
		t.Errorf("setSecret began %v after pending-stored, want at least the lead %v", d, lead)
	}
	if d := got[2].at.Sub(got[1].at); d < settle {
		t.Errorf("the password changed %v after password-changing, want at least the settle %v", d, settle)
	}
}

// TestNoticeLeadBounds: the lead is cut to the step's deadline less the margin (a Lambda
// function's timeout), not waited when the notice did not go out, and invalid values panic.
func TestNoticeLeadBounds(t *testing.T) {
	t.Parallel()
	h := NewHandler(nil, keyStrategy{&keyService{}}, WithNoticeLead(time.Minute))
	ctx, cancel := context.WithTimeout(t.Context(), leadMargin+time.Second)
	defer cancel()
	if d := h.lead(ctx); d <= 0 || d > time.Second {
		t.Errorf("lead under a deadline %v away: got %v, want at most 1s", leadMargin+time.Second, d)
	}
	short, cancel2 := context.WithTimeout(t.Context(), leadMargin/2)
	defer cancel2()
	if d := h.lead(short); d != 0 {
		t.Errorf("lead under a deadline within the margin: got %v, want 0", d)
	}
	if d := h.lead(t.Context()); d != time.Minute && t.Context().Err() == nil {
		if _, ok := t.Context().Deadline(); !ok {
			t.Errorf("lead without a deadline: got %v, want 1m", d)
		}
	}
	for name, o := range map[string]Option{
		"negative lead":   WithNoticeLead(-time.Second),
		"lead too long":   WithNoticeLead(notice.MaxLead + time.Second),
		"negative settle": WithNoticeSettle(-time.Second),
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: NewHandler did not panic", name)
				}
			}()
			NewHandler(nil, keyStrategy{&keyService{}}, o)
		}()
	}
}
