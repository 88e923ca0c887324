package rotasafe

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Version is one fetched version of a secret. Its String, Format, LogValue and
// MarshalJSON methods print the metadata and never SecretString or SecretBinary, under every
// fmt verb, so a Version can be logged or wrapped into an error safely. Read the value through
// the fields.
type Version struct {
	ARN          string    // full ARN of the secret
	Name         string    // friendly name of the secret
	ID           string    // version ID (the ClientRequestToken that created it)
	Stages       []string  // staging labels on this version when it was fetched
	SecretString string    // the value, when stored as a string
	SecretBinary []byte    // the value, when stored as binary
	CreatedDate  time.Time // when the version was created
}

// NewVersion converts a GetSecretValue answer into a Version. It copies SecretBinary and
// Stages so the Version does not alias the SDK's buffers.
func NewVersion(out *secretsmanager.GetSecretValueOutput) Version {
	if out == nil {
		return Version{}
	}
	v := Version{
		ARN:          deref(out.ARN),
		Name:         deref(out.Name),
		ID:           deref(out.VersionId),
		Stages:       slices.Clone(out.VersionStages),
		SecretString: deref(out.SecretString),
		SecretBinary: slices.Clone(out.SecretBinary),
	}
	if out.CreatedDate != nil {
		v.CreatedDate = *out.CreatedDate
	}
	return v
}

// HasStage reports whether the version carried the staging label when it was fetched.
func (v Version) HasStage(stage string) bool { return slices.Contains(v.Stages, stage) }

// view is what String, Format and LogValue show of the version: its metadata, and only the
// name of the value field that is set. String names the secret by Name, or by ARN when it has
// no Name; LogValue always by name.
func (v Version) view() redactedView {
	name := shown{key: "name", value: v.Name}
	arn := shown{value: v.ARN}
	switch {
	case v.Name != "":
		name.label = "Name"
	case v.ARN != "":
		arn.label = "ARN"
	}
	r := redactedView{typ: "rotasafe.Version", fields: []shown{name, arn, {"ID", "id", v.ID}, {"Stages", "stages", v.Stages}}}
	r.hide("SecretString", v.SecretString != "")
	r.hide("SecretBinary", v.SecretString == "" && v.SecretBinary != nil) // the one that holds the value
	return r
}

// String describes the version without its value.
func (v Version) String() string { return v.view().String() }

// Format prints String under every verb (%v, %+v, %#v, %s, %q, %x, ...), so no verb reaches
// the value fields.
func (v Version) Format(f fmt.State, verb rune) { v.view().Format(f, verb) }

// LogValue makes log/slog print the metadata as a group, without the value.
func (v Version) LogValue() slog.Value { return v.view().LogValue() }

// MarshalJSON encodes the metadata; the value is replaced by a marker.
func (v Version) MarshalJSON() ([]byte, error) {
	type meta struct {
		ARN          string    `json:"ARN,omitempty"`
		Name         string    `json:"Name,omitempty"`
		ID           string    `json:"VersionId,omitempty"`
		Stages       []string  `json:"VersionStages,omitempty"`
		SecretString string    `json:"SecretString,omitempty"`
		SecretBinary string    `json:"SecretBinary,omitempty"`
		CreatedDate  time.Time `json:"CreatedDate,omitzero"`
	}
	m := meta{ARN: v.ARN, Name: v.Name, ID: v.ID, Stages: v.Stages, CreatedDate: v.CreatedDate}
	if v.SecretString != "" {
		m.SecretString = redacted
	}
	if v.SecretBinary != nil {
		m.SecretBinary = redacted
	}
	return json.Marshal(m)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
