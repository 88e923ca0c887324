package smtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/smtest"
	"github.com/rotasafe/rotasafe/smtest/internal/template"
)

type contextT = context.Context

// templateStep runs the rotation template against the server through c.
func templateStep(ctx context.Context, c *secretsmanager.Client, ev rotasafe.Event) error {
	return template.Step(ctx, c, ev)
}

func templateStep2(c *secretsmanager.Client) func(context.Context, rotasafe.Event) error {
	return func(ctx context.Context, ev rotasafe.Event) error { return templateStep(ctx, c, ev) }
}

// recordingTemplate runs the template and appends each event to events; failAt names a step
// to fail instead ("" = none).
func recordingTemplate(c *secretsmanager.Client, events *[]rotasafe.Event, failAt string) func(context.Context, rotasafe.Event) error {
	var mu sync.Mutex
	return func(ctx context.Context, ev rotasafe.Event) error {
		mu.Lock()
		*events = append(*events, ev)
		mu.Unlock()
		if ev.Step == failAt {
			return fmt.Errorf("injected failure at %s", ev.Step)
		}
		return templateStep(ctx, c, ev)
	}
}

func newRawRequest(t *testing.T, s *smtest.Server, target, body string) (*http.Request, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	return req, nil
}

var errTest = errors.New("injected step failure")
