package rabbitmq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// mgmt is a client of one broker's management API, as one user.
type mgmt struct {
	http       *http.Client
	base       string // the management API's base URL, without a trailing slash
	user, pass string
}

// errNotFound is the cause when the API answers 404.
var errNotFound = errors.New("not found")

// do calls method on path with in as the JSON body (when not nil) and decodes the answer
// into out (when not nil). The error names the method, the path and the status; never a
// body, which may echo what was sent.
func (m *mgmt) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, m.base+path, body)
	if err != nil {
		return fmt.Errorf("management API %s %s: %w", method, path, err)
	}
	req.SetBasicAuth(m.user, m.pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.http.Do(req)
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
		return fmt.Errorf("management API %s %s: %w", method, path, errNotFound)
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("management API %s %s as %s: HTTP 401: the credentials are refused, or the user lacks the administrator tag", method, path, m.user)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("management API %s %s as %s: HTTP %d", method, path, m.user, resp.StatusCode)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("management API %s %s: an answer that is not the expected JSON", method, path)
		}
	}
	return nil
}

// user is what GET /api/users/{name} says of a user.
type user struct {
	Name             string   `json:"name"`
	PasswordHash     string   `json:"password_hash"`
	HashingAlgorithm string   `json:"hashing_algorithm"`
	Tags             tagsList `json:"tags"`
}

// tagsList reads the tags of a user, a list (3.9 and later) or a comma-separated string.
type tagsList []string

func (t *tagsList) UnmarshalJSON(b []byte) error {
	var list []string
	if json.Unmarshal(b, &list) == nil {
		*t = list
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*t = nil
	for tag := range strings.SplitSeq(s, ",") {
		if tag = strings.TrimSpace(tag); tag != "" {
			*t = append(*t, tag)
		}
	}
	return nil
}

// String is the comma-separated form PUT /api/users/{name} takes, sorted.
func (t tagsList) String() string {
	s := slices.Clone([]string(t))
	slices.Sort(s)
	return strings.Join(s, ",")
}

// getUser reads a user; ok is false when there is none.
func (m *mgmt) getUser(ctx context.Context, name string) (u user, ok bool, err error) {
	err = m.do(ctx, http.MethodGet, "/api/users/"+url.PathEscape(name), nil, &u)
	if errors.Is(err, errNotFound) {
		return u, false, nil
	}
	return u, err == nil, err
}

// putUser creates or replaces a user with a password hash and tags.
func (m *mgmt) putUser(ctx context.Context, name, hash string, tags tagsList) error {
	return m.do(ctx, http.MethodPut, "/api/users/"+url.PathEscape(name),
		map[string]string{"password_hash": hash, "hashing_algorithm": HashingAlgorithm, "tags": tags.String()}, nil)
}

// permission is one vhost's permissions of a user.
type permission struct {
	VHost     string `json:"vhost"`
	Configure string `json:"configure"`
	Write     string `json:"write"`
	Read      string `json:"read"`
}

// topicPermission is one exchange's topic permissions of a user on a vhost.
type topicPermission struct {
	VHost    string `json:"vhost"`
	Exchange string `json:"exchange"`
	Write    string `json:"write"`
	Read     string `json:"read"`
}

// syncPermissions gives clone exactly the permissions and topic permissions of orig.
func (m *mgmt) syncPermissions(ctx context.Context, orig, clone string) error {
	var want, have []permission
	if err := m.do(ctx, http.MethodGet, "/api/users/"+url.PathEscape(orig)+"/permissions", nil, &want); err != nil {
		return err
	}
	if err := m.do(ctx, http.MethodGet, "/api/users/"+url.PathEscape(clone)+"/permissions", nil, &have); err != nil {
		return err
	}
	for _, p := range want {
		if !slices.Contains(have, p) {
			path := "/api/permissions/" + url.PathEscape(p.VHost) + "/" + url.PathEscape(clone)
			if err := m.do(ctx, http.MethodPut, path, map[string]string{"configure": p.Configure, "write": p.Write, "read": p.Read}, nil); err != nil {
				return err
			}
		}
	}
	for _, p := range have {
		if !slices.ContainsFunc(want, func(w permission) bool { return w.VHost == p.VHost }) {
			if err := m.do(ctx, http.MethodDelete, "/api/permissions/"+url.PathEscape(p.VHost)+"/"+url.PathEscape(clone), nil, nil); err != nil {
				return err
			}
		}
	}

	var wantT, haveT []topicPermission
	if err := m.do(ctx, http.MethodGet, "/api/users/"+url.PathEscape(orig)+"/topic-permissions", nil, &wantT); err != nil {
		return err
	}
	if err := m.do(ctx, http.MethodGet, "/api/users/"+url.PathEscape(clone)+"/topic-permissions", nil, &haveT); err != nil {
		return err
	}
	vhosts := map[string]bool{}
	for _, p := range append(slices.Clone(wantT), haveT...) {
		vhosts[p.VHost] = true
	}
	for vh := range vhosts {
		of := func(ps []topicPermission) []topicPermission {
			var out []topicPermission
			for _, p := range ps {
				if p.VHost == vh {
					out = append(out, p)
				}
			}
			slices.SortFunc(out, func(a, b topicPermission) int { return strings.Compare(a.Exchange, b.Exchange) })
			return out
		}
		w, h := of(wantT), of(haveT)
		if slices.Equal(w, h) {
			continue
		}
		path := "/api/topic-permissions/" + url.PathEscape(vh) + "/" + url.PathEscape(clone)
		if len(h) > 0 {
			if err := m.do(ctx, http.MethodDelete, path, nil, nil); err != nil {
				return err
			}
		}
		for _, p := range w {
			if err := m.do(ctx, http.MethodPut, path, map[string]string{"exchange": p.Exchange, "write": p.Write, "read": p.Read}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
