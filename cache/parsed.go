package cache

import (
	"context"
	"fmt"
	"reflect"

	"github.com/rotasafe/rotasafe"
	imemo "github.com/rotasafe/rotasafe/internal/memo"
)

// memoKey names one version of one secret: the secret's ARN (or, without one, the ID the
// caller used) and the version ID.
type memoKey struct{ secret, version string }

// memo holds the parsed values of one cached version, one per parse function, errors
// included (the same version does not parse differently). refs counts the snapshots that
// hold it (guarded by Cache.mu); at zero it leaves Cache.memos.
type memo struct {
	key   memoKey
	refs  int
	cells imemo.Map[parser, any]
}

// parser names a parse function: its result type and its code. Closures made from one
// function literal share their code, and so their result.
type parser struct {
	t  reflect.Type
	fn uintptr
}

func memoKeyOf(id string, v rotasafe.Version) memoKey {
	s := v.ARN
	if s == "" {
		s = id
	}
	return memoKey{s, v.ID}
}

// acquire returns the memo of v, creating it; c.mu is held.
func (c *Cache) acquire(id string, v rotasafe.Version) *memo {
	k := memoKeyOf(id, v)
	if m, ok := c.memos.Load(k); ok {
		m := m.(*memo)
		m.refs++
		return m
	}
	m := &memo{key: k, refs: 1}
	m.cells.KeepErrors = true
	c.memos.Store(k, m)
	return m
}

// release drops one reference to m; c.mu is held.
func (c *Cache) release(m *memo) {
	if m == nil {
		return
	}
	if m.refs--; m.refs <= 0 {
		c.memos.CompareAndDelete(m.key, m)
	}
}

// Parsed returns parse(v), running parse once per (secret, version ID, parse function) while
// the version is in the cache: a caller can call it per connection without re-parsing the
// secret's JSON. A parse error is remembered as well (the same version does not parse
// differently), wrapped with the secret and version ID. The memo holds the result and the
// error, never v; it is dropped when no entry holds the version any more. A version the
// cache does not hold (or no longer holds), or one without an ARN, is parsed on every call.
// Parse functions are told apart by their code: closures made from one function literal
// count as one function, so do not make parse depend on what a closure captures.
//
// parse must not put the secret value in its error; rotasafe.ParseDBSecret does not.
func Parsed[T any](c *Cache, v rotasafe.Version, parse func(rotasafe.Version) (T, error)) (T, error) {
	var m *memo
	if v.ARN != "" {
		if x, ok := c.memos.Load(memoKey{v.ARN, v.ID}); ok {
			m = x.(*memo)
		}
	}
	return parsedIn(c, m, v, parse)
}

// GetParsed is Get followed by Parsed: the AWSCURRENT version of secretID and its parsed value.
func GetParsed[T any](ctx context.Context, c *Cache, secretID string, parse func(rotasafe.Version) (T, error)) (T, rotasafe.Version, error) {
	var zero T
	s, err := c.snapshot(ctx, secretID)
	if err != nil {
		return zero, rotasafe.Version{}, err
	}
	val, err := parsedIn(c, s.memo, s.v, parse)
	return val, s.v, err
}

func parsedIn[T any](c *Cache, m *memo, v rotasafe.Version, parse func(rotasafe.Version) (T, error)) (T, error) {
	if m == nil {
		c.st.parses.Add(1)
		val, err := parse(v)
		if err != nil {
			return val, parseErr(v, err)
		}
		return val, nil
	}
	k := parser{reflect.TypeFor[T](), reflect.ValueOf(parse).Pointer()}
	x, err := m.cells.Get(k, func() (any, error) {
		c.st.parses.Add(1)
		val, err := parse(v)
		if err != nil {
			return nil, parseErr(v, err)
		}
		return val, nil
	})
	if err != nil {
		var zero T
		return zero, err
	}
	val, _ := x.(T) // comma-ok: a nil interface T is stored as a nil any
	return val, nil
}

// parseErr names the secret and version of a failed parse.
func parseErr(v rotasafe.Version, err error) error {
	name := v.Name
	if name == "" {
		name = v.ARN
	}
	return fmt.Errorf("cache: parse %s version %s: %w", name, v.ID, err)
}
