package smtest

import (
	"bytes"
	"crypto/rand"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rotasafe/rotasafe"
)

// maxVersions is how many versions of a secret the server keeps; past it the oldest
// deprecated (unlabelled) versions are dropped.
const maxVersions = 100

// secret is one stored secret. All fields are guarded by Server.mu.
type secret struct {
	name, arn    string
	description  *string
	kmsKeyID     string // "" for the default key
	typ          string
	tags         []tag
	tagged       bool // tags were ever set: DescribeSecret shows Tags (maybe empty)
	created      time.Time
	lastChanged  time.Time
	lastAccessed time.Time // date resolution; zero until first read
	deleted      time.Time // scheduled deletion time set; zero when live
	deletionDate time.Time // when the deletion takes effect

	rotationEnabled *bool
	lambdaARN       string
	rules           *rotationRules
	lastRotated     time.Time
	nextRotation    time.Time

	versions map[string]*version
	order    []string // version IDs, oldest first
}

// version is one version of a secret. hasValue is false for a rotation placeholder.
type version struct {
	id           string
	hasValue     bool
	str          *string
	bin          []byte
	stages       []string
	created      time.Time
	lastAccessed time.Time
}

func (v *version) has(stage string) bool { return slices.Contains(v.stages, stage) }

func (v *version) sameValue(str *string, bin []byte) bool {
	if !v.hasValue {
		return false
	}
	if str != nil {
		return v.str != nil && *v.str == *str
	}
	return v.str == nil && bytes.Equal(v.bin, bin)
}

func (v *version) setValue(str *string, bin []byte) {
	v.hasValue = true
	if str != nil {
		s := *str
		v.str = &s
		v.bin = nil
	} else {
		v.str = nil
		v.bin = slices.Clone(bin)
		if v.bin == nil {
			v.bin = []byte{}
		}
	}
}

// holder returns the version that holds stage, or nil.
func (sec *secret) holder(stage string) *version {
	for _, id := range sec.order {
		if v := sec.versions[id]; v.has(stage) {
			return v
		}
	}
	return nil
}

// hasValue reports whether some version of the secret holds a value.
func (sec *secret) hasValue() bool {
	for _, v := range sec.versions {
		if v.hasValue {
			return true
		}
	}
	return false
}

func (sec *secret) addVersion(v *version) {
	sec.versions[v.id] = v
	sec.order = append(sec.order, v.id)
}

func removeStage(v *version, stage string) {
	v.stages = slices.DeleteFunc(v.stages, func(s string) bool { return s == stage })
}

func addStage(v *version, stage string) {
	if !v.has(stage) {
		v.stages = append(v.stages, stage)
	}
}

// moveStage puts stage on version to, taking it off its current holder. Moving AWSCURRENT
// away from a version gives that version AWSPREVIOUS (taken from its earlier holder) and takes
// AWSPREVIOUS off the target; the target keeps AWSPENDING.
func (sec *secret) moveStage(stage string, to *version) {
	from := sec.holder(stage)
	if from == to {
		return
	}
	if from != nil {
		removeStage(from, stage)
	}
	addStage(to, stage)
	if stage == rotasafe.StageCurrent && from != nil {
		if prev := sec.holder(rotasafe.StagePrevious); prev != nil {
			removeStage(prev, rotasafe.StagePrevious)
		}
		addStage(from, rotasafe.StagePrevious)
	}
}

// labels returns the version-ID → stages map of labelled versions (DescribeSecret's
// VersionIdsToStages), copies of the stored slices.
func (sec *secret) labels() rotasafe.Stages {
	m := rotasafe.Stages{}
	for id, v := range sec.versions {
		if len(v.stages) > 0 {
			m[id] = slices.Clone(v.stages)
		}
	}
	return m
}

// prune drops the oldest deprecated versions while the secret has more than maxVersions.
// With keepYoung, versions under 24 hours old are kept.
func (sec *secret) prune(now time.Time, keepYoung bool) {
	for i := 0; len(sec.order) > maxVersions && i < len(sec.order); {
		v := sec.versions[sec.order[i]]
		if len(v.stages) > 0 || (keepYoung && now.Sub(v.created) < 24*time.Hour) {
			i++
			continue
		}
		delete(sec.versions, v.id)
		sec.order = slices.Delete(sec.order, i, i+1)
	}
}

const nameChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+=.@-"

// validName reports whether name is a valid secret name: 1–512 characters of
// [A-Za-z0-9/_+=.@-].
func validName(name string) bool {
	if name == "" || len(name) > 512 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !strings.ContainsRune(nameChars, rune(name[i])) {
			return false
		}
	}
	return true
}

var errBadName = errf(codeValidation, "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")

var errNotFound = errf(codeNotFound, "Secrets Manager can't find the specified secret.")

var errDeleted = errf(codeInvalidReq, "You can't perform this operation on the secret because it was marked for deletion.")

// arnFor builds a new ARN for name with a random 6-character suffix.
func (s *Server) arnFor(name string) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b [6]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return s.arnPrefix() + name + "-" + string(b[:])
}

func (s *Server) arnPrefix() string {
	return "arn:aws:secretsmanager:" + s.cfg.region + ":" + s.cfg.accountID + ":secret:"
}

// lookup resolves a SecretId: a full ARN, a name, or a partial ARN (the full ARN without its
// "-XXXXXX" suffix). The caller holds s.mu.
func (s *Server) lookup(id *string) (*secret, *apiError) {
	if id == nil || *id == "" {
		return nil, errf(codeValidation, "1 validation error detected: Value at 'secretId' failed to satisfy constraint: Member must not be null")
	}
	key := *id
	if strings.HasPrefix(key, "arn:") {
		for _, sec := range s.secrets {
			if sec.arn == key {
				return sec, nil
			}
		}
		// A partial ARN whose last part looks like name-XXXXXX is taken as a full ARN.
		last := key[strings.LastIndex(key, ":")+1:]
		if i := strings.LastIndex(last, "-"); i >= 0 && len(last)-i-1 == 6 {
			return nil, errNotFound
		}
		for _, sec := range s.secrets {
			if len(sec.arn) > 7 && sec.arn[:len(sec.arn)-7] == key {
				return sec, nil
			}
		}
		return nil, errNotFound
	}
	if !validName(key) {
		return nil, errBadName
	}
	if sec, ok := s.secrets[key]; ok {
		return sec, nil
	}
	return nil, errNotFound
}

// lookupLive is lookup that also refuses a secret scheduled for deletion.
// onSecret runs op with s.mu held on the secret that id names (a name or ARN). live refuses a
// secret scheduled for deletion, as every operation but DescribeSecret, RestoreSecret and
// ListSecretVersionIds does.
func (s *Server) onSecret(id *string, live bool, op func(sec *secret) (any, *apiError)) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	if live && !sec.deleted.IsZero() {
		return nil, errDeleted
	}
	return op(sec)
}

func (s *Server) lookupLive(id *string) (*secret, *apiError) {
	sec, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	if !sec.deleted.IsZero() {
		return nil, errDeleted
	}
	return sec, nil
}

// dateOnly truncates t to 00:00 UTC of its day, the resolution of LastAccessedDate.
func dateOnly(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// sortedVersionIDs returns the IDs of vs sorted by creation time then ID.
func sortedVersions(sec *secret) []*version {
	out := make([]*version, 0, len(sec.order))
	for _, id := range sec.order {
		out = append(out, sec.versions[id])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].created.Before(out[j].created) })
	return out
}
