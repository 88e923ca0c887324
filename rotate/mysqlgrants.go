package rotate

import (
	"errors"
	"fmt"
	"strings"
)

// The grants of the alternating-users clone are copied from SHOW GRANTS rows of the original
// by rewriting only the grantee: every other byte of a row goes back to the server as the
// server printed it, so WITH GRANT OPTION, column lists, routines, proxies, roles and
// resource limits survive. A small tokenizer finds the grantee: it knows backtick, single-
// and double-quoted tokens, so a database, table, column or role whose name looks like
// " TO `user`@`host`" is never mistaken for it.

// sqlToken is one token of a statement the server printed.
type sqlToken struct {
	text  string // as printed, quotes included
	start int    // byte offset in the statement
	kind  byte   // 'w' word, '`' backtick identifier, '\'' or '"' string, 'p' punctuation
}

// value returns the token unquoted (identifiers and strings) or as printed (words, upper case).
func (t sqlToken) value() string {
	switch t.kind {
	case '`':
		return strings.ReplaceAll(t.text[1:len(t.text)-1], "``", "`")
	case '\'', '"':
		return unescapeString(t.text[1:len(t.text)-1], t.kind)
	case 'w':
		return strings.ToUpper(t.text)
	}
	return t.text
}

// is reports whether the token is the keyword kw (upper case).
func (t sqlToken) is(kw string) bool { return t.kind == 'w' && strings.EqualFold(t.text, kw) }

// unescapeString undoes the server's quoting of a string: a doubled quote and MySQL's
// backslash escapes.
func unescapeString(s string, q byte) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q && i+1 < len(s) && s[i+1] == q:
			b.WriteByte(q)
			i++
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case '0':
				b.WriteByte(0)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			case 'Z':
				b.WriteByte(26)
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// errUnterminated is the cause when a printed statement ends inside a quoted token.
var errUnterminated = errors.New("a quoted name or string does not end")

// tokenize splits a statement the server printed (SHOW GRANTS, SHOW CREATE USER) into tokens.
func tokenize(s string) ([]sqlToken, error) {
	var toks []sqlToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '`' || c == '\'' || c == '"':
			j := i + 1
			for ; j < len(s); j++ {
				if c != '`' && s[j] == '\\' {
					j++
					continue
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						j++
						continue
					}
					break
				}
			}
			if j >= len(s) {
				return nil, errUnterminated
			}
			toks = append(toks, sqlToken{text: s[i : j+1], start: i, kind: c})
			i = j + 1
		case strings.IndexByte("@,().=;", c) >= 0:
			toks = append(toks, sqlToken{text: s[i : i+1], start: i, kind: 'p'})
			i++
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t\n\r`'\"@,().=;", s[j]) < 0 {
				j++
			}
			toks = append(toks, sqlToken{text: s[i:j], start: i, kind: 'w'})
			i = j
		}
	}
	return toks, nil
}

// isName reports whether the token can be a user, host or role name.
func (t sqlToken) isName() bool {
	return t.kind == '`' || t.kind == '\'' || t.kind == '"' || t.kind == 'w'
}

// accountAt reports whether toks[i:i+3] is the account a (name @ name).
func accountAt(toks []sqlToken, i int, a account) bool {
	return i+2 < len(toks) && toks[i].isName() && toks[i+1].text == "@" && toks[i+2].isName() &&
		toks[i].kind != 'w' && toks[i].value() == a.User && toks[i+2].value() == a.Host
}

// grantRow is one SHOW GRANTS row, parsed as far as copying and comparing grants needs.
type grantRow struct {
	kind        byte     // 'p' privileges ON an object (proxies too), 'r' role grant, 'd' SET DEFAULT ROLE
	privs       []string // 'p': the privileges, one per column for column privileges, upper-case keywords
	object      string   // 'p': the object as printed (`db`.*, PROCEDURE `db`.`p`, ''@'%'); 'r', 'd': the role(s)
	grantOption bool     // 'p': WITH GRANT OPTION; 'r': WITH ADMIN OPTION
	rewritten   string   // the row for the other account: grantee replaced, IDENTIFIED and REQUIRE clauses left out
}

// errGrantee is the cause when a SHOW GRANTS row does not name the account it was asked for.
var errGrantee = errors.New("the row does not name the account as its grantee")

// parseGrant parses one SHOW GRANTS row of account from and rewrites it for account to.
// Errors never quote the row (it may hold a password hash).
func parseGrant(row string, from, to account) (grantRow, error) {
	toks, err := tokenize(row)
	if err != nil {
		return grantRow{}, err
	}
	var g grantRow
	var granteeAt, keyword int
	switch {
	case len(toks) > 4 && toks[0].is("SET") && toks[1].is("DEFAULT") && toks[2].is("ROLE"):
		// SET DEFAULT ROLE role FOR grantee (MariaDB)
		g.kind, keyword = 'd', -1
		for i := 3; i < len(toks); i++ {
			if toks[i].is("FOR") && accountAt(toks, i+1, from) {
				keyword, granteeAt = i, i+1
				break
			}
		}
		if keyword < 0 {
			return grantRow{}, errGrantee
		}
		g.object = rawSpan(row, toks[3:keyword])
	case len(toks) > 3 && toks[0].is("GRANT"):
		on, to := -1, -1
		depth := 0
		for i := 1; i < len(toks); i++ {
			switch {
			case toks[i].text == "(":
				depth++
			case toks[i].text == ")":
				depth--
			case depth == 0 && on < 0 && toks[i].is("ON"):
				on = i
			case depth == 0 && toks[i].is("TO") && accountAt(toks, i+1, from):
				to = i
			}
			if to >= 0 {
				break
			}
		}
		if to < 0 {
			return grantRow{}, errGrantee
		}
		keyword, granteeAt = to, to+1
		if on >= 0 {
			g.kind = 'p'
			g.privs = splitPrivileges(toks[1:on])
			g.object = rawSpan(row, toks[on+1:to])
		} else {
			g.kind = 'r'
			g.object = rawSpan(row, toks[1:to])
		}
	default:
		return grantRow{}, errors.New("the row is neither a GRANT nor a SET DEFAULT ROLE")
	}

	// The tail after the grantee: keep WITH ... (GRANT OPTION, ADMIN OPTION, resource
	// limits); drop IDENTIFIED ... (the original's password) and REQUIRE ... (copied on its
	// own, from mysql.user).
	tail := toks[granteeAt+3:]
	var keep []sqlToken
	skipping := false
	for _, t := range tail {
		switch {
		case t.is("IDENTIFIED") || t.is("REQUIRE"):
			skipping = true
			continue
		case t.is("WITH"):
			skipping = false
		}
		if !skipping {
			keep = append(keep, t)
		}
	}
	for i := 0; i+1 < len(keep); i++ {
		if keep[i].is("WITH") && (keep[i+1].is("GRANT") || keep[i+1].is("ADMIN")) {
			g.grantOption = true
		}
	}
	head := row[:toks[granteeAt].start]
	g.rewritten = head + to.sql()
	if s := rawSpan(row, keep); s != "" {
		g.rewritten += " " + s
	}
	return g, nil
}

// rawSpan returns the text of row that toks cover, as printed; toks must be contiguous in row
// except where tokens were left out, whose gaps are joined with a space.
func rawSpan(row string, toks []sqlToken) string {
	if len(toks) == 0 {
		return ""
	}
	var b strings.Builder
	runStart := toks[0].start
	prevEnd := toks[0].start + len(toks[0].text)
	for _, t := range toks[1:] {
		gap := row[prevEnd:t.start]
		if strings.TrimSpace(gap) != "" { // a token left out between: end the run
			b.WriteString(row[runStart:prevEnd])
			b.WriteByte(' ')
			runStart = t.start
		}
		prevEnd = t.start + len(t.text)
	}
	b.WriteString(row[runStart:prevEnd])
	return b.String()
}

// splitPrivileges splits a privilege list at its top-level commas, one entry per column for
// column privileges: "SELECT (`a`, `b`), INSERT" is "SELECT (`a`)", "SELECT (`b`)", "INSERT".
func splitPrivileges(toks []sqlToken) []string {
	var out []string
	var name []string
	flush := func(cols []string) {
		if len(name) == 0 {
			return
		}
		n := strings.Join(name, " ")
		if len(cols) == 0 {
			out = append(out, n)
		}
		for _, c := range cols {
			out = append(out, n+" ("+c+")")
		}
		name = nil
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.text == ",":
			flush(nil)
		case t.text == "(":
			var cols []string
			for i++; i < len(toks) && toks[i].text != ")"; i++ {
				if toks[i].text != "," {
					cols = append(cols, quoteIdent(toks[i].value()))
				}
			}
			flush(cols)
		default:
			name = append(name, t.value())
		}
	}
	flush(nil)
	return out
}

// grantKey identifies what a row grants on: the kind and the object.
func (g grantRow) key() string { return string(g.kind) + " " + g.object }

// grantPlan is what makes the clone's grants equal to the original's: revokes first (what
// the clone holds beyond the original), then every row of the original rewritten for the
// clone (GRANT adds only what is missing).
type grantPlan struct {
	revokes []string
	grants  []string
}

// planGrants compares the SHOW GRANTS rows of orig and clone and returns the statements that
// give clone exactly orig's grants. Errors say which row (by number) did not parse.
func planGrants(origRows, cloneRows []string, orig, clone account) (grantPlan, error) {
	var plan grantPlan
	want := map[string]grantRow{}
	var defaults []grantRow
	for i, r := range origRows {
		g, err := parseGrant(r, orig, clone)
		if err != nil {
			return plan, fmt.Errorf("SHOW GRANTS row %d of %s: %w", i+1, orig, err)
		}
		if g.kind == 'd' {
			defaults = append(defaults, g)
			continue
		}
		if prev, ok := want[g.key()]; ok { // MySQL 8 prints static and dynamic privileges apart
			g.privs = append(prev.privs, g.privs...)
			g.grantOption = g.grantOption || prev.grantOption
		}
		want[g.key()] = g
		plan.grants = append(plan.grants, g.rewritten)
	}
	cloneHasDefault := false
	for i, r := range cloneRows {
		g, err := parseGrant(r, clone, clone)
		if err != nil {
			return plan, fmt.Errorf("SHOW GRANTS row %d of %s: %w", i+1, clone, err)
		}
		w, ok := want[g.key()]
		switch g.kind {
		case 'd':
			cloneHasDefault = true
		case 'r':
			switch {
			case !ok:
				plan.revokes = append(plan.revokes, "REVOKE "+g.object+" FROM "+clone.sql())
			case g.grantOption && !w.grantOption:
				plan.revokes = append(plan.revokes, "REVOKE ADMIN OPTION FOR "+g.object+" FROM "+clone.sql())
			}
		case 'p':
			var extra []string
			have := map[string]bool{}
			for _, p := range w.privs {
				have[p] = true
			}
			for _, p := range g.privs {
				if p != "USAGE" && !have[p] {
					extra = append(extra, p)
				}
			}
			if len(extra) > 0 {
				plan.revokes = append(plan.revokes, "REVOKE "+strings.Join(extra, ", ")+" ON "+g.object+" FROM "+clone.sql())
			}
			if g.grantOption && !w.grantOption {
				plan.revokes = append(plan.revokes, "REVOKE GRANT OPTION ON "+g.object+" FROM "+clone.sql())
			}
		}
	}
	for _, d := range defaults {
		plan.grants = append(plan.grants, d.rewritten)
	}
	if len(defaults) == 0 && cloneHasDefault {
		plan.grants = append(plan.grants, "SET DEFAULT ROLE NONE FOR "+clone.sql())
	}
	return plan, nil
}

// authMethod is one authentication method of an account, from SHOW CREATE USER.
type authMethod struct {
	plugin string // lower case; "mysql_native_password" when the account has no IDENTIFIED clause
	auth   string // the stored authentication string (a hash), "" when none
}

// parseAuth reads the authentication methods from a SHOW CREATE USER row:
//
//	CREATE USER `u`@`h` IDENTIFIED BY PASSWORD '*HEX'                           (MariaDB)
//	CREATE USER `u`@`h` IDENTIFIED VIA ed25519 USING '...' OR unix_socket        (MariaDB)
//	CREATE USER `u`@`h` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$...'  (MySQL)
//	CREATE USER `u`@`h`                                                          (no password)
func parseAuth(row string) ([]authMethod, error) {
	toks, err := tokenize(row)
	if err != nil {
		return nil, err
	}
	i := 0
	for i < len(toks) && !toks[i].is("IDENTIFIED") {
		i++
	}
	if i == len(toks) {
		return []authMethod{{plugin: "mysql_native_password"}}, nil
	}
	i++
	at := func(j int) sqlToken {
		if j < len(toks) {
			return toks[j]
		}
		return sqlToken{}
	}
	if at(i).is("BY") && at(i+1).is("PASSWORD") && at(i+2).kind == '\'' {
		return []authMethod{{plugin: "mysql_native_password", auth: at(i + 2).value()}}, nil
	}
	if !at(i).is("VIA") && !at(i).is("WITH") {
		return nil, errors.New("SHOW CREATE USER: unknown IDENTIFIED clause")
	}
	var out []authMethod
	for i++; ; {
		t := at(i)
		if !t.isName() || t.text == "" {
			return nil, errors.New("SHOW CREATE USER: no plugin after IDENTIFIED")
		}
		m := authMethod{plugin: strings.ToLower(t.value())}
		i++
		if at(i).is("USING") || at(i).is("AS") {
			if k := at(i + 1).kind; k != '\'' && k != '"' {
				return nil, errors.New("SHOW CREATE USER: no string after USING")
			}
			m.auth = at(i + 1).value()
			i += 2
		}
		out = append(out, m)
		if !at(i).is("OR") {
			return out, nil
		}
		i++
	}
}
