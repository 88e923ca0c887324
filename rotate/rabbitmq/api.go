package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/rotasafe/rotasafe/internal/rabbitapi"
)

// mgmt is a client of one broker's management API, as one user.
type mgmt struct{ rabbitapi.Client }

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
	err = m.Do(ctx, http.MethodGet, "/api/users/"+url.PathEscape(name), nil, &u)
	if errors.Is(err, rabbitapi.ErrNotFound) {
		return u, false, nil
	}
	return u, err == nil, err
}

// putUser creates or replaces a user with a password hash and tags.
func (m *mgmt) putUser(ctx context.Context, name, hash string, tags tagsList) error {
	return m.Do(ctx, http.MethodPut, "/api/users/"+url.PathEscape(name),
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
	if err := m.Do(ctx, http.MethodGet, "/api/users/"+url.PathEscape(orig)+"/permissions", nil, &want); err != nil {
		return err
	}
	if err := m.Do(ctx, http.MethodGet, "/api/users/"+url.PathEscape(clone)+"/permissions", nil, &have); err != nil {
		return err
	}
	for _, p := range want {
		if !slices.Contains(have, p) {
			path := "/api/permissions/" + url.PathEscape(p.VHost) + "/" + url.PathEscape(clone)
			if err := m.Do(ctx, http.MethodPut, path, map[string]string{"configure": p.Configure, "write": p.Write, "read": p.Read}, nil); err != nil {
				return err
			}
		}
	}
	for _, p := range have {
		if !slices.ContainsFunc(want, func(w permission) bool { return w.VHost == p.VHost }) {
			if err := m.Do(ctx, http.MethodDelete, "/api/permissions/"+url.PathEscape(p.VHost)+"/"+url.PathEscape(clone), nil, nil); err != nil {
				return err
			}
		}
	}

	var wantT, haveT []topicPermission
	if err := m.Do(ctx, http.MethodGet, "/api/users/"+url.PathEscape(orig)+"/topic-permissions", nil, &wantT); err != nil {
		return err
	}
	if err := m.Do(ctx, http.MethodGet, "/api/users/"+url.PathEscape(clone)+"/topic-permissions", nil, &haveT); err != nil {
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
			if err := m.Do(ctx, http.MethodDelete, path, nil, nil); err != nil {
				return err
			}
		}
		for _, p := range w {
			if err := m.Do(ctx, http.MethodPut, path, map[string]string{"exchange": p.Exchange, "write": p.Write, "read": p.Read}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
