package smtest

import (
	"strconv"
	"time"
)

// request holds the members of every operation's input this server reads, under their wire
// names. Pointers tell an absent member from an empty one.
type request struct {
	Name               *string
	SecretId           *string
	ClientRequestToken *string
	Description        *string
	KmsKeyId           *string
	SecretString       *string
	SecretBinary       []byte // base64 on the wire; nil when absent
	Tags               []tag
	TagKeys            []string
	Type               *string

	VersionId           *string
	VersionStage        *string
	VersionStages       []string
	RotationToken       *string
	MoveToVersionId     *string
	RemoveFromVersionId *string

	IncludeDeprecated      *bool
	IncludePlannedDeletion *bool
	MaxResults             *int
	NextToken              *string
	Filters                []filter
	SecretIdList           []string
	SortBy                 *string
	SortOrder              *string

	RotationLambdaARN *string
	RotationRules     *rotationRules
	RotateImmediately *bool

	PasswordLength          *int64
	ExcludeCharacters       *string
	ExcludeNumbers          *bool
	ExcludePunctuation      *bool
	ExcludeUppercase        *bool
	ExcludeLowercase        *bool
	IncludeSpace            *bool
	RequireEachIncludedType *bool

	RecoveryWindowInDays       *int64
	ForceDeleteWithoutRecovery *bool
}

type tag struct {
	Key   *string `json:"Key,omitempty"`
	Value *string `json:"Value,omitempty"`
}

type filter struct {
	Key    *string
	Values []string
}

type rotationRules struct {
	AutomaticallyAfterDays *int64  `json:"AutomaticallyAfterDays,omitempty"`
	Duration               *string `json:"Duration,omitempty"`
	ScheduleExpression     *string `json:"ScheduleExpression,omitempty"`
}

// epoch is a time encoded as Secrets Manager does: a JSON number of seconds since the epoch,
// with milliseconds.
type epoch time.Time

// MarshalJSON writes the seconds since the epoch with three decimals.
func (e epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(e).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', 3, 64), nil
}

// obj is a JSON object under construction; members are added only when set.
type obj map[string]any

func (o obj) time(key string, t time.Time) {
	if !t.IsZero() {
		o[key] = epoch(t)
	}
}

func (o obj) str(key, v string) {
	if v != "" {
		o[key] = v
	}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func boolv(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}
