package rotasafe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
)

// DBSecret is the JSON structure AWS documents for a database secret
// (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html).
// ParseDBSecret reads it and MarshalSecret writes it back with every field it did not know
// kept as it was, so a rotation that changes the password loses nothing else.
//
// Printing a DBSecret with fmt, log/slog or encoding/json never shows the password or any
// field DBSecret does not know (such fields may hold secrets too).
type DBSecret struct {
	Engine    string // "postgres", "aurora-postgresql", "mysql", "mariadb", "oracle", "sqlserver", "redshift", ...
	Host      string // host name or address of the database
	Username  string // login name
	Password  string // login password
	DBName    string // database to connect to; empty means the engine's default (see DBNameOrDefault)
	Port      int    // TCP port; 0 means the engine's default (see PortOrDefault)
	MasterARN string // ARN of the secret of the user that may change this user's password (alternating users)

	DBInstanceIdentifier string // RDS instance identifier, in secrets that RDS created or documents
	DBClusterIdentifier  string // RDS/Aurora cluster identifier, likewise

	// extra holds fields DBSecret does not model, and the port's original text when the
	// secret spelled it as a string. It is nil when there are none, so DBSecrets stay
	// comparable with == in the common case.
	extra *dbExtra
}

type dbExtra struct {
	fields     map[string]json.RawMessage
	portString bool
}

// stringField is a string field of a JSON object (a DBSecret, an Event): its name there, and
// the Go field it is read into or written from.
type stringField struct {
	name string
	ptr  *string
}

// stringFields lists the string fields by their documented JSON names.
func (s *DBSecret) stringFields() []stringField {
	return []stringField{
		{"engine", &s.Engine},
		{"host", &s.Host},
		{"username", &s.Username},
		{"password", &s.Password},
		{"dbname", &s.DBName},
		{"masterarn", &s.MasterARN},
		{"dbInstanceIdentifier", &s.DBInstanceIdentifier},
		{"dbClusterIdentifier", &s.DBClusterIdentifier},
	}
}

// SecretFormatError says what is wrong with a secret's JSON: which field, and why. It never
// holds any part of the input, only field names, JSON kinds and byte offsets.
type SecretFormatError struct {
	Field  string // JSON field name; empty when the problem is the document as a whole
	Offset int64  // byte offset of a syntax error, or -1
	Reason string // what is wrong, e.g. "is missing", "want a JSON string, got a number"
}

func (e *SecretFormatError) Error() string {
	var b strings.Builder
	b.WriteString("rotasafe: database secret: ")
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q ", e.Field)
	}
	b.WriteString(e.Reason)
	if e.Offset >= 0 {
		fmt.Fprintf(&b, " (at byte %d)", e.Offset)
	}
	return b.String()
}

// ErrSecretFormat is matched by every *SecretFormatError with errors.Is.
var ErrSecretFormat = errors.New("rotasafe: malformed secret")

// Is makes errors.Is(err, ErrSecretFormat) true.
func (e *SecretFormatError) Is(target error) bool { return target == ErrSecretFormat }

func fieldErr(field, reason string) error {
	return &SecretFormatError{Field: field, Offset: -1, Reason: reason}
}

// ParseDBSecret reads a database secret's JSON. Port may be a JSON number or a string of
// digits, as both occur in the wild. Username, password and host are required. Errors are
// *SecretFormatError values that name the field and never quote the input.
func ParseDBSecret(data []byte) (DBSecret, error) {
	var s DBSecret
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return s, fieldErr("", "is empty, want a JSON object")
	}
	if trimmed[0] != '{' {
		if !json.Valid(data) {
			return s, syntaxErr(data)
		}
		return s, fieldErr("", "want a JSON object, got "+jsonKind(trimmed))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return s, syntaxErr(data)
	}
	for _, f := range s.stringFields() {
		v, ok := raw[f.name]
		if !ok {
			continue
		}
		delete(raw, f.name)
		str, err := decodeString(f.name, v)
		if err != nil {
			return DBSecret{}, err
		}
		*f.ptr = str
	}
	var portString bool
	if v, ok := raw["port"]; ok {
		delete(raw, "port")
		p, isString, err := decodePort(v)
		if err != nil {
			return DBSecret{}, err
		}
		s.Port, portString = p, isString
	}
	for _, req := range []struct{ name, val string }{{"username", s.Username}, {"password", s.Password}, {"host", s.Host}} {
		if req.val == "" {
			return DBSecret{}, fieldErr(req.name, "is missing or empty")
		}
	}
	if len(raw) > 0 || portString {
		s.extra = &dbExtra{portString: portString}
		if len(raw) > 0 {
			s.extra.fields = raw
		}
	}
	return s, nil
}

// syntaxErr reports where data stops being JSON without quoting it: encoding/json's own
// messages quote the offending character, which may belong to a password.
func syntaxErr(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &SecretFormatError{Offset: se.Offset, Reason: "is not valid JSON"}
	}
	return &SecretFormatError{Offset: -1, Reason: "is not valid JSON"}
}

func decodeString(name string, v json.RawMessage) (string, error) {
	if string(v) == "null" {
		return "", nil
	}
	if len(v) == 0 || v[0] != '"' {
		return "", fieldErr(name, "want a JSON string, got "+jsonKind(v))
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fieldErr(name, "is not a valid JSON string")
	}
	return s, nil
}

func decodePort(v json.RawMessage) (port int, isString bool, err error) {
	text := string(v)
	switch {
	case text == "null":
		return 0, false, nil
	case len(v) > 0 && v[0] == '"':
		if err := json.Unmarshal(v, &text); err != nil {
			return 0, false, fieldErr("port", "is not a valid JSON string")
		}
		isString = true
	case len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')):
	default:
		return 0, false, fieldErr("port", "want a number or a numeric string, got "+jsonKind(v))
	}
	n, convErr := strconv.Atoi(strings.TrimSpace(text))
	if convErr != nil {
		// Accept a whole number written as a float (5432.0), as some tools write it.
		f, ferr := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if ferr != nil || f != float64(int(f)) {
			return 0, false, fieldErr("port", "want a whole number")
		}
		n = int(f)
	}
	if n < 1 || n > 65535 {
		return 0, false, fieldErr("port", "is out of range 1-65535")
	}
	return n, isString, nil
}

// jsonKind names the kind of a JSON value by its first byte.
func jsonKind(v []byte) string {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return "nothing"
	}
	switch c := v[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "something that is not JSON"
}

// MarshalSecret encodes the secret as the JSON to store in Secrets Manager, password
// included, with every field ParseDBSecret did not model kept unchanged. It is the only way
// to get the password into JSON: MarshalJSON redacts.
func (s DBSecret) MarshalSecret() ([]byte, error) {
	out := map[string]any{}
	if s.extra != nil {
		maps.Copy(out, toAny(s.extra.fields))
	}
	for _, f := range s.stringFields() {
		if *f.ptr != "" {
			out[f.name] = *f.ptr
		}
	}
	if s.Port != 0 {
		if s.extra != nil && s.extra.portString {
			out["port"] = strconv.Itoa(s.Port)
		} else {
			out["port"] = s.Port
		}
	}
	return json.Marshal(out)
}

func toAny(m map[string]json.RawMessage) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// PortOrDefault returns Port, or the engine's well-known port when Port is 0.
func (s DBSecret) PortOrDefault() int {
	if s.Port != 0 {
		return s.Port
	}
	switch strings.ToLower(s.Engine) {
	case "mysql", "mariadb", "aurora-mysql", "aurora":
		return 3306
	case "oracle":
		return 1521
	case "sqlserver":
		return 1433
	case "redshift":
		return 5439
	case "redis":
		return 6379
	}
	return 5432
}

// DBNameOrDefault returns DBName, or the engine's default database ("postgres" for
// PostgreSQL engines, "master" for SQL Server) when it is empty.
func (s DBSecret) DBNameOrDefault() string {
	if s.DBName != "" {
		return s.DBName
	}
	switch strings.ToLower(s.Engine) {
	case "sqlserver":
		return "master"
	case "mysql", "mariadb", "aurora-mysql", "aurora", "oracle", "redis":
		return ""
	}
	return "postgres"
}

// view is what String, Format and LogValue show of the secret: the connection facts, and
// only the names of the password and the unmodelled fields.
func (s DBSecret) view() redactedView {
	r := redactedView{typ: "rotasafe.DBSecret", fields: []shown{
		{"Engine", "engine", s.Engine},
		{"Host", "host", s.Host},
		{"Port", "port", s.Port},
		{"Username", "username", s.Username},
		{"DBName", "dbname", s.DBName},
	}}
	if s.MasterARN != "" {
		r.fields = append(r.fields, shown{label: "MasterARN", value: s.MasterARN})
	}
	r.hide("Password", s.Password != "")
	if s.extra != nil {
		r.more = len(s.extra.fields)
	}
	return r
}

// String describes the secret without its password or unmodelled fields.
func (s DBSecret) String() string { return s.view().String() }

// Format prints String under every fmt verb.
func (s DBSecret) Format(f fmt.State, verb rune) { s.view().Format(f, verb) }

// LogValue makes log/slog print the connection facts without the password.
func (s DBSecret) LogValue() slog.Value { return s.view().LogValue() }

// MarshalJSON encodes the secret for logs and debugging output with the password and any
// unmodelled field replaced by a marker. Use MarshalSecret for the JSON to store.
func (s DBSecret) MarshalJSON() ([]byte, error) {
	out := map[string]any{}
	if s.extra != nil {
		for k := range s.extra.fields {
			out[k] = redacted
		}
	}
	for _, f := range s.stringFields() {
		if *f.ptr != "" {
			out[f.name] = *f.ptr
		}
	}
	if s.Password != "" {
		out["password"] = redacted
	}
	if s.Port != 0 {
		out["port"] = s.Port
	}
	return json.Marshal(out)
}
