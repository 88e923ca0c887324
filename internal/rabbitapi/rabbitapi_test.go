package rabbitapi

import (
	"fmt"
	"strings"
	"testing"
)

func TestFormatHidesPassword(t *testing.T) {
	c := Client{Base: "http://127.0.0.1:15672", User: "admin", Password: "s3cret-value"}
	type holder struct{ Client }
	for _, s := range []string{fmt.Sprintf("%v|%+v|%#v|%s", c, c, c, c), fmt.Sprintf("%v|%+v|%#v", &c, holder{c}, holder{c})} {
		if strings.Contains(s, c.Password) {
			t.Fatalf("the password appears in %q", s)
		}
		if !strings.Contains(s, c.User) {
			t.Errorf("%q does not name the user", s)
		}
	}
}
