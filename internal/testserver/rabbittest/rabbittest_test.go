package rabbittest

import (
	"net/http"
	"strings"
	"testing"
)

func TestNodeStartsWithManagementAPI(t *testing.T) {
	rs := New(t)
	var who struct {
		Name string `json:"name"`
		Tags any    `json:"tags"`
	}
	if err := rs.Do(t.Context(), http.MethodGet, "/api/whoami", nil, &who); err != nil {
		t.Fatal(err)
	}
	if who.Name != rs.AdminUser {
		t.Fatalf("whoami: got %q, want %q", who.Name, rs.AdminUser)
	}
	if err := rs.CreateUser(t.Context(), "app", "app-password"); err != nil {
		t.Fatal(err)
	}
	log, err := rs.ReadLog()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "debug") {
		t.Errorf("the node's log holds no debug line; is log.file.level debug?")
	}
	if strings.Contains(log, rs.AdminPassword) {
		t.Error("the node's log holds the admin password")
	}
}
