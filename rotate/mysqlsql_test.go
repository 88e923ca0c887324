package rotate

import (
	"slices"
	"strings"
	"testing"

	"github.com/rotasafe/rotasafe"
)

func TestNativePasswordHash(t *testing.T) {
	t.Parallel()
	tests := []struct{ password, want string }{
		// SELECT PASSWORD('mypass') in MySQL 5.7's manual and on MariaDB 10.11.
		{"mypass", "*6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4"},
		{"secret1", "*7C67218EF7410F248763DC99AEDC705367393C4A"},
		{"", "*BE1BDEC0AA74B4DCB079943E70528096CCA985F8"},
	}
	for _, tt := range tests {
		if got := nativePasswordHash(tt.password); got != tt.want {
			t.Errorf("nativePasswordHash(%q) = %s, want %s", tt.password, got, tt.want)
		}
		if _, err := hashLiteral(nativePasswordHash(tt.password)); err != nil {
			t.Errorf("hashLiteral refuses the hash of %q: %v", tt.password, err)
		}
	}
}

func TestHashLiteralRefusesOtherShapes(t *testing.T) {
	t.Parallel()
	for _, h := range []string{
		"", "*", "6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4", "*6c8989366eaf75bb670ad8ea7a7fc1176a95cef4",
		"*6C8989366EAF75BB670AD8EA7A7FC1176A95CEF", "*6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4' OR '1",
		"*6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4\n", "plaintext password",
	} {
		lit, err := hashLiteral(h)
		if err == nil {
			t.Errorf("hashLiteral(%q) = %s, want an error", h, lit)
		}
		if err != nil && h != "" && strings.Contains(err.Error(), h) {
			t.Errorf("the error quotes the value: %v", err)
		}
	}
	// Every builder that takes a hash refuses a bad one.
	a := account{"u", "%"}
	bad := "not a hash"
	if _, err := setPasswordSQL(serverInfo{mariaDB: true, major: 10, minor: 11}, a, true, bad); err == nil {
		t.Error("setPasswordSQL took a bad hash")
	}
	if _, err := createUserSQL(a, bad); err == nil {
		t.Error("createUserSQL took a bad hash")
	}
	good := nativePasswordHash("x")
	if _, err := dualPasswordSQL(serverInfo{mariaDB: true, major: 10, minor: 11}, a, good, bad); err == nil {
		t.Error("dualPasswordSQL took a bad hash")
	}
}

func TestQuoteIdent(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"app", "`app`"},
		{"a`b", "`a``b`"},
		{"x'; DROP USER root; --", "`x'; DROP USER root; --`"},
		{"%", "`%`"},
		{"``", "``````"},
	}
	for _, tt := range tests {
		if got := quoteIdent(tt.in); got != tt.want {
			t.Errorf("quoteIdent(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := (account{"o'dd`%u", "10.0.%"}).sql(); got != "`o'dd``%u`@`10.0.%`" {
		t.Errorf("account.sql() = %s", got)
	}
}

func TestQuoteString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        string
		backslash bool
		want      string
	}{
		{"/CN=ca", true, "'/CN=ca'"},
		{"it's", true, "'it''s'"},
		{`a\'b`, true, `'a\\''b'`},
		{`a\'b`, false, `'a\''b'`},
	}
	for _, tt := range tests {
		if got := quoteString(tt.in, tt.backslash); got != tt.want {
			t.Errorf("quoteString(%q, %v) = %s, want %s", tt.in, tt.backslash, got, tt.want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		want  serverInfo
		limit int
	}{
		{"10.11.19-MariaDB-0+deb12u1-log", serverInfo{true, 10, 11, 19}, 128},
		{"5.5.5-10.11.6-MariaDB", serverInfo{true, 10, 11, 6}, 128},
		{"10.5.22-MariaDB", serverInfo{true, 10, 5, 22}, 80},
		{"10.6.0-MariaDB", serverInfo{true, 10, 6, 0}, 128},
		{"8.0.36", serverInfo{false, 8, 0, 36}, 32},
		{"8.0.mysql_aurora.3.05.2", serverInfo{false, 8, 0, 0}, 32},
		{"5.7.44-log", serverInfo{false, 5, 7, 44}, 32},
		{"5.7.7-rc", serverInfo{false, 5, 7, 7}, 16},
		{"5.6.51", serverInfo{false, 5, 6, 51}, 16},
		{"9.1.0", serverInfo{false, 9, 1, 0}, 32},
	}
	for _, tt := range tests {
		got := parseVersion(tt.in)
		if got != tt.want {
			t.Errorf("parseVersion(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if l := got.userNameLimit(); l != tt.limit {
			t.Errorf("%s: user name limit %d, want %d", tt.in, l, tt.limit)
		}
	}
}

func TestPasswordSQL(t *testing.T) {
	t.Parallel()
	a := account{"app", "10.0.%"}
	p := nativePasswordHash("pending")
	maria := serverInfo{true, 10, 11, 19}
	mysql8 := serverInfo{false, 8, 0, 36}
	tests := []struct {
		name string
		got  func() (string, error)
		want string
	}{
		{"MariaDB, own password", func() (string, error) { return setPasswordSQL(maria, a, true, p) }, "SET PASSWORD = '" + p + "'"},
		{"MariaDB, another account", func() (string, error) { return setPasswordSQL(maria, a, false, p) },
			"ALTER USER `app`@`10.0.%` IDENTIFIED WITH mysql_native_password AS '" + p + "'"},
		// SET PASSWORD takes plaintext on MySQL: never used there.
		{"MySQL, own password", func() (string, error) { return setPasswordSQL(mysql8, a, true, p) },
			"ALTER USER `app`@`10.0.%` IDENTIFIED WITH mysql_native_password AS '" + p + "'"},
		{"create", func() (string, error) { return createUserSQL(a, p) },
			"CREATE USER `app`@`10.0.%` IDENTIFIED WITH mysql_native_password AS '" + p + "'"},
	}
	for _, tt := range tests {
		got, err := tt.got()
		if err != nil || got != tt.want {
			t.Errorf("%s: got %s (%v), want %s", tt.name, got, err, tt.want)
		}
	}
}

func TestDualPasswordSQL(t *testing.T) {
	t.Parallel()
	a := account{"app", "%"}
	p, c := nativePasswordHash("pending"), nativePasswordHash("current")
	tests := []struct {
		name    string
		server  serverInfo
		want    []string
		wantErr bool
	}{
		{"MariaDB 10.11", serverInfo{true, 10, 11, 19}, []string{
			"ALTER USER `app`@`%` IDENTIFIED VIA mysql_native_password USING '" + p + "' OR mysql_native_password USING '" + c + "'"}, false},
		{"MariaDB 10.4", serverInfo{true, 10, 4, 0}, []string{
			"ALTER USER `app`@`%` IDENTIFIED VIA mysql_native_password USING '" + p + "' OR mysql_native_password USING '" + c + "'"}, false},
		{"MariaDB 10.3", serverInfo{true, 10, 3, 39}, nil, true},
		{"MySQL 8.0.14", serverInfo{false, 8, 0, 14}, []string{
			"ALTER USER `app`@`%` IDENTIFIED WITH mysql_native_password AS '" + c + "'",
			"ALTER USER `app`@`%` IDENTIFIED WITH mysql_native_password AS '" + p + "' RETAIN CURRENT PASSWORD"}, false},
		{"MySQL 8.0.13", serverInfo{false, 8, 0, 13}, nil, true},
		{"MySQL 5.7", serverInfo{false, 5, 7, 44}, nil, true},
	}
	for _, tt := range tests {
		got, err := dualPasswordSQL(tt.server, a, p, c)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q (%v), want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestRequireSQL(t *testing.T) {
	t.Parallel()
	a := account{"c", "%"}
	tests := []struct {
		r    tlsRequirement
		want string
	}{
		{tlsRequirement{}, "ALTER USER `c`@`%` REQUIRE NONE"},
		{tlsRequirement{Type: "ANY"}, "ALTER USER `c`@`%` REQUIRE SSL"},
		{tlsRequirement{Type: "X509"}, "ALTER USER `c`@`%` REQUIRE X509"},
		{tlsRequirement{Type: "SPECIFIED", Issuer: "/CN=ca", Subject: `/CN=it's\me`},
			"ALTER USER `c`@`%` REQUIRE ISSUER '/CN=ca' AND SUBJECT '/CN=it''s\\\\me'"},
		{tlsRequirement{Type: "SPECIFIED", Cipher: "EDH-RSA-DES-CBC3-SHA"}, "ALTER USER `c`@`%` REQUIRE CIPHER 'EDH-RSA-DES-CBC3-SHA'"},
	}
	for _, tt := range tests {
		got, err := requireSQL(a, tt.r, true)
		if err != nil || got != tt.want {
			t.Errorf("requireSQL(%+v) = %s (%v), want %s", tt.r, got, err, tt.want)
		}
	}
	if _, err := requireSQL(a, tlsRequirement{Type: "BOGUS"}, true); err == nil {
		t.Error("an unknown ssl_type gave no error")
	}
}

// The rows are what MariaDB 10.11 prints for an account made with every kind of grant.
var (
	oddUser   = account{"o'dd`%u", "10.0.%"}
	oddClone  = account{"o'dd`%u_clone", "10.0.%"}
	oddGrants = []string{
		"GRANT `r'ole` TO `o'dd``%u`@`10.0.%` WITH ADMIN OPTION",
		"GRANT `r2` TO `o'dd``%u`@`10.0.%`",
		"GRANT RELOAD, PROCESS ON *.* TO `o'dd``%u`@`10.0.%` IDENTIFIED BY PASSWORD '*7C67218EF7410F248763DC99AEDC705367393C4A' REQUIRE ISSUER '/CN=ca' SUBJECT '/CN=it''s\\\\me' WITH MAX_QUERIES_PER_HOUR 100 MAX_USER_CONNECTIONS 7",
		"GRANT SELECT, INSERT ON `we``ird db`.* TO `o'dd``%u`@`10.0.%` WITH GRANT OPTION",
		"GRANT SELECT (`b``c`, `a`), UPDATE (`a`) ON `we``ird db`.`t TO x` TO `o'dd``%u`@`10.0.%`",
		"GRANT EXECUTE ON PROCEDURE `we``ird db`.`p` TO `o'dd``%u`@`10.0.%`",
		"GRANT PROXY ON ``@`%` TO `o'dd``%u`@`10.0.%`",
		"SET DEFAULT ROLE `r'ole` FOR `o'dd``%u`@`10.0.%`",
	}
	oddRewritten = []string{
		"GRANT `r'ole` TO `o'dd``%u_clone`@`10.0.%` WITH ADMIN OPTION",
		"GRANT `r2` TO `o'dd``%u_clone`@`10.0.%`",
		"GRANT RELOAD, PROCESS ON *.* TO `o'dd``%u_clone`@`10.0.%` WITH MAX_QUERIES_PER_HOUR 100 MAX_USER_CONNECTIONS 7",
		"GRANT SELECT, INSERT ON `we``ird db`.* TO `o'dd``%u_clone`@`10.0.%` WITH GRANT OPTION",
		"GRANT SELECT (`b``c`, `a`), UPDATE (`a`) ON `we``ird db`.`t TO x` TO `o'dd``%u_clone`@`10.0.%`",
		"GRANT EXECUTE ON PROCEDURE `we``ird db`.`p` TO `o'dd``%u_clone`@`10.0.%`",
		"GRANT PROXY ON ``@`%` TO `o'dd``%u_clone`@`10.0.%`",
		"SET DEFAULT ROLE `r'ole` FOR `o'dd``%u_clone`@`10.0.%`",
	}
)

func TestParseGrantRewritesOnlyTheGrantee(t *testing.T) {
	t.Parallel()
	for i, row := range oddGrants {
		g, err := parseGrant(row, oddUser, oddClone)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if g.rewritten != oddRewritten[i] {
			t.Errorf("row %d:\n got %s\nwant %s", i, g.rewritten, oddRewritten[i])
		}
		if strings.Contains(g.rewritten, "IDENTIFIED") || strings.Contains(g.rewritten, "*7C67") {
			t.Errorf("row %d: the rewritten row carries the original's password", i)
		}
	}
	g, _ := parseGrant(oddGrants[4], oddUser, oddClone)
	if want := []string{"SELECT (`b``c`)", "SELECT (`a`)", "UPDATE (`a`)"}; !slices.Equal(g.privs, want) {
		t.Errorf("column privileges %q, want %q", g.privs, want)
	}
	if g.object != "`we``ird db`.`t TO x`" {
		t.Errorf("object %s", g.object)
	}
	g, _ = parseGrant(oddGrants[3], oddUser, oddClone)
	if !g.grantOption || g.kind != 'p' {
		t.Errorf("WITH GRANT OPTION not seen: %+v", g)
	}
	g, _ = parseGrant(oddGrants[0], oddUser, oddClone)
	if !g.grantOption || g.kind != 'r' || g.object != "`r'ole`" {
		t.Errorf("WITH ADMIN OPTION not seen: %+v", g)
	}
}

func TestParseGrantOtherForms(t *testing.T) {
	t.Parallel()
	from, to := account{"app", "%"}, account{"app_clone", "%"}
	tests := []struct{ row, want string }{
		// MySQL 5.7 quotes with single quotes.
		{"GRANT USAGE ON *.* TO 'app'@'%'", "GRANT USAGE ON *.* TO `app_clone`@`%`"},
		// MySQL 8: dynamic privileges, role with a host.
		{"GRANT BACKUP_ADMIN,XA_RECOVER_ADMIN ON *.* TO `app`@`%`", "GRANT BACKUP_ADMIN,XA_RECOVER_ADMIN ON *.* TO `app_clone`@`%`"},
		{"GRANT `reader`@`%` TO `app`@`%`", "GRANT `reader`@`%` TO `app_clone`@`%`"},
		// A database named like a grantee does not fool the parser; % is never doubled.
		{"GRANT ALL PRIVILEGES ON `TO ``app``@``%```.* TO `app`@`%`", "GRANT ALL PRIVILEGES ON `TO ``app``@``%```.* TO `app_clone`@`%`"},
		// MariaDB with a dual password and TLS.
		{"GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED VIA mysql_native_password USING '*A' OR mysql_native_password USING '*B' REQUIRE SSL",
			"GRANT USAGE ON *.* TO `app_clone`@`%`"},
	}
	for _, tt := range tests {
		g, err := parseGrant(tt.row, from, to)
		if err != nil || g.rewritten != tt.want {
			t.Errorf("%s:\n got %s (%v)\nwant %s", tt.row, g.rewritten, err, tt.want)
		}
	}
	for _, bad := range []string{
		"GRANT USAGE ON *.* TO `other`@`%`",
		"GRANT USAGE ON *.* TO `app`@`localhost`",
		"REVOKE USAGE ON *.* FROM `app`@`%`",
		"GRANT USAGE ON *.* TO `app`@`%",
		"",
	} {
		if _, err := parseGrant(bad, from, to); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestPlanGrants(t *testing.T) {
	t.Parallel()
	// A fresh clone holds only USAGE: nothing to revoke, every row to grant.
	plan, err := planGrants(oddGrants, []string{"GRANT USAGE ON *.* TO `o'dd``%u_clone`@`10.0.%`"}, oddUser, oddClone)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.revokes) != 0 {
		t.Errorf("revokes %q, want none", plan.revokes)
	}
	if !slices.Equal(plan.grants, oddRewritten) {
		t.Errorf("grants\n%q\nwant\n%q", plan.grants, oddRewritten)
	}

	// A clone holding more than the original loses exactly the surplus.
	cloneRows := []string{
		"GRANT `r'ole` TO `o'dd``%u_clone`@`10.0.%` WITH ADMIN OPTION",
		"GRANT `r2` TO `o'dd``%u_clone`@`10.0.%` WITH ADMIN OPTION",
		"GRANT `extra` TO `o'dd``%u_clone`@`10.0.%`",
		"GRANT RELOAD, PROCESS, SUPER ON *.* TO `o'dd``%u_clone`@`10.0.%` IDENTIFIED BY PASSWORD '*7C67218EF7410F248763DC99AEDC705367393C4A' WITH GRANT OPTION",
		"GRANT SELECT, INSERT, DELETE ON `we``ird db`.* TO `o'dd``%u_clone`@`10.0.%` WITH GRANT OPTION",
		"GRANT SELECT (`b``c`, `a`, `z`), UPDATE (`a`) ON `we``ird db`.`t TO x` TO `o'dd``%u_clone`@`10.0.%`",
		"GRANT ALL PRIVILEGES ON `other`.* TO `o'dd``%u_clone`@`10.0.%`",
	}
	plan, err = planGrants(oddGrants, cloneRows, oddUser, oddClone)
	if err != nil {
		t.Fatal(err)
	}
	c := "`o'dd``%u_clone`@`10.0.%`"
	wantRevokes := []string{
		"REVOKE ADMIN OPTION FOR `r2` FROM " + c,
		"REVOKE `extra` FROM " + c,
		"REVOKE SUPER ON *.* FROM " + c,
		"REVOKE GRANT OPTION ON *.* FROM " + c,
		"REVOKE DELETE ON `we``ird db`.* FROM " + c,
		"REVOKE SELECT (`z`) ON `we``ird db`.`t TO x` FROM " + c,
		"REVOKE ALL PRIVILEGES ON `other`.* FROM " + c,
	}
	if !slices.Equal(plan.revokes, wantRevokes) {
		t.Errorf("revokes\n%q\nwant\n%q", plan.revokes, wantRevokes)
	}

	// A default role the original does not have is dropped.
	plan, err = planGrants([]string{"GRANT USAGE ON *.* TO `a`@`%`"},
		[]string{"GRANT USAGE ON *.* TO `a_clone`@`%`", "GRANT `r` TO `a_clone`@`%`", "SET DEFAULT ROLE `r` FOR `a_clone`@`%`"},
		account{"a", "%"}, account{"a_clone", "%"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"GRANT USAGE ON *.* TO `a_clone`@`%`", "SET DEFAULT ROLE NONE FOR `a_clone`@`%`"}; !slices.Equal(plan.grants, want) {
		t.Errorf("grants %q, want %q", plan.grants, want)
	}
	if want := []string{"REVOKE `r` FROM `a_clone`@`%`"}; !slices.Equal(plan.revokes, want) {
		t.Errorf("revokes %q, want %q", plan.revokes, want)
	}

	// A row that does not parse is named by number, never quoted.
	_, err = planGrants([]string{"GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED BY PASSWORD '*SECRETHASH"}, nil, account{"a", "%"}, account{"a_clone", "%"})
	if err == nil || strings.Contains(err.Error(), "SECRETHASH") || !strings.Contains(err.Error(), "row 1") {
		t.Errorf("got %v, want an error naming row 1 without quoting it", err)
	}
}

func TestParseAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		row  string
		want []authMethod
	}{
		{"CREATE USER `a`@`%` IDENTIFIED BY PASSWORD '*7C67218EF7410F248763DC99AEDC705367393C4A'",
			[]authMethod{{"mysql_native_password", "*7C67218EF7410F248763DC99AEDC705367393C4A"}}},
		{"CREATE USER `a`@`%`", []authMethod{{"mysql_native_password", ""}}},
		{"CREATE USER `b`@`%` IDENTIFIED VIA mysql_native_password USING '*A' OR mysql_native_password USING '*B'",
			[]authMethod{{"mysql_native_password", "*A"}, {"mysql_native_password", "*B"}}},
		{"CREATE USER `e`@`%` IDENTIFIED VIA ed25519 USING 'ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY' REQUIRE SSL",
			[]authMethod{{"ed25519", "ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY"}}},
		{"CREATE USER `s`@`localhost` IDENTIFIED VIA unix_socket OR mysql_native_password USING 'invalid'",
			[]authMethod{{"unix_socket", ""}, {"mysql_native_password", "invalid"}}},
		{"CREATE USER `m`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$x\\'y' REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK",
			[]authMethod{{"caching_sha2_password", "$A$005$x'y"}}},
		{"CREATE USER 'm'@'%' IDENTIFIED WITH 'mysql_native_password' AS '*6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4' REQUIRE NONE",
			[]authMethod{{"mysql_native_password", "*6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4"}}},
	}
	for _, tt := range tests {
		got, err := parseAuth(tt.row)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %+v (%v)\nwant %+v", tt.row, got, err, tt.want)
		}
	}
	a := account{"u", "%"}
	if err := checkNative(a, []authMethod{{"ed25519", "x"}}, 1); err == nil || !strings.Contains(err.Error(), "ed25519") {
		t.Errorf("an ed25519 account: got %v, want a refusal naming the plugin", err)
	}
	if err := checkNative(a, []authMethod{{"mysql_native_password", "*A"}, {"mysql_native_password", "*B"}}, 1); err == nil {
		t.Error("a single-password rotation took an account with two passwords")
	}
	if err := checkNative(a, []authMethod{{"mysql_native_password", "*A"}, {"mysql_native_password", "*B"}}, 2); err != nil {
		t.Errorf("a dual-password rotation refused an account with two native passwords: %v", err)
	}
}

func TestCloneName(t *testing.T) {
	t.Parallel()
	m := MySQLAlternatingUsers().(*myStrategy)
	tests := []struct {
		user  string
		limit int
		want  string
	}{
		{"app", 32, "app_clone"},
		{strings.Repeat("a", 26), 32, strings.Repeat("a", 26) + "_clone"},
		{strings.Repeat("a", 27), 32, strings.Repeat("a", 26) + "_clone"},
		{strings.Repeat("a", 20), 16, strings.Repeat("a", 10) + "_clone"},
		{strings.Repeat("ä", 130), 128, strings.Repeat("ä", 122) + "_clone"},
		{strings.Repeat("a", 122), 128, strings.Repeat("a", 122) + "_clone"},
	}
	for _, tt := range tests {
		got, err := m.cloneName(tt.user, tt.limit)
		if err != nil || got != tt.want {
			t.Errorf("cloneName(%d chars, %d) = %s (%v), want %s", len([]rune(tt.user)), tt.limit, got, err, tt.want)
		}
	}
	long := MySQLAlternatingUsers(WithCloneSuffix(strings.Repeat("_", 16))).(*myStrategy)
	if _, err := long.cloneName("a", 16); err == nil {
		t.Error("a suffix as long as the limit gave no error")
	}
}

func TestParseMySQLSecret(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"mysql", "mariadb", "aurora-mysql", "aurora", "MySQL", ""} {
		if _, err := parseMySQL(versionOf(`{"engine":"`+engine+`","host":"h","username":"u","password":"p"}`), "AWSCURRENT"); err != nil {
			t.Errorf("engine %s: %v", engine, err)
		}
	}
	for _, bad := range []string{
		`{"engine":"postgres","host":"h","username":"u","password":"p"}`,
		`{"engine":"mysql","host":"h","username":"","password":"p"}`,
		`{"engine":"mysql","host":"h","username":"a\u0000b","password":"p"}`,
	} {
		if _, err := parseMySQL(versionOf(bad), "AWSCURRENT"); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func versionOf(secret string) rotasafe.Version { return rotasafe.Version{SecretString: secret} }

func TestMySQLSecretDefaults(t *testing.T) {
	t.Parallel()
	s, err := parseMySQL(versionOf(`{"host":"db.example","username":"u","password":"p"}`), "AWSCURRENT")
	if err != nil {
		t.Fatal(err)
	}
	if s.addr() != "db.example:3306" || s.DBName != "" {
		t.Errorf("got %s and database %q, want port 3306 and no database", s.addr(), s.DBName)
	}
}
