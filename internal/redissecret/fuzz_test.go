package redissecret

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzTLSField: reading the TLS fields never panics, and an error does not depend on the
// value (so it cannot quote it): it reads the same as for another bad value.
func FuzzTLSField(f *testing.F) {
	for _, s := range []string{"true", "false", "yes", "s3cr3t-value", "", "null"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		b, err := json.Marshal(map[string]string{"tls": v, "password": v})
		if err != nil {
			return
		}
		_, err = TLSField(string(b))
		if err == nil {
			return
		}
		_, other := TLSField(`{"tls":"another bad value"}`)
		if err.Error() != other.Error() || strings.Contains(err.Error(), "another") {
			t.Fatalf("the error depends on the value: %v", err)
		}
	})
}
