// Package rabbitapi calls a RabbitMQ node's management HTTP API. Package rotate/rabbitmq
// rotates users through it, and internal/testserver/rabbittest drives its test nodes with it.
package rabbitapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Client calls one node's management API as one user.
type Client struct {
	HTTP     *http.Client // nil: http.DefaultClient
	Base     string       // the management API's base URL, without a trailing slash
	User     string
	Password string
}

// ErrNotFound is the cause when the API answers 404.
var ErrNotFound = errors.New("HTTP 404: not found")

// Do calls method on path with in as the JSON body (when not nil) and decodes the answer
// into out (when not nil). The error names the method, the path and the status; never a
// body, which may echo what was sent.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return fmt.Errorf("management API %s %s: %w", method, path, err)
	}
	req.SetBasicAuth(c.User, c.Password)
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL, which holds no secret, but keep it short
		}
		return fmt.Errorf("management API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("management API %s %s: %w", method, path, ErrNotFound)
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("management API %s %s as %s: HTTP 401: the credentials are refused, or the user lacks the administrator tag", method, path, c.User)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("management API %s %s as %s: HTTP %d", method, path, c.User, resp.StatusCode)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("management API %s %s: an answer that is not the expected JSON", method, path)
		}
	}
	return nil
}

// Format prints the client without its password, under every verb, so that %v, %+v and %#v
// of a Client (or of a struct that holds one) never show it.
func (c Client) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "rabbitapi.Client{Base: %s, User: %s}", c.Base, c.User)
}
