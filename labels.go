package rotasafe

import (
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Stages maps version IDs to their staging labels, as DescribeSecret's VersionIdsToStages
// does. It lists only versions that carry at least one label; deprecated versions are absent.
type Stages map[string][]string

// StagesOf returns the labels of a DescribeSecret answer (a copy: the answer is not aliased).
func StagesOf(out *secretsmanager.DescribeSecretOutput) Stages {
	if out == nil {
		return Stages{}
	}
	l := make(Stages, len(out.VersionIdsToStages))
	for id, stages := range out.VersionIdsToStages {
		l[id] = slices.Clone(stages)
	}
	return l
}

// VersionOf returns the ID of the version that holds stage, and whether one does.
func (l Stages) VersionOf(stage string) (string, bool) {
	for id, stages := range l {
		if slices.Contains(stages, stage) {
			return id, true
		}
	}
	return "", false
}

// Has reports whether version id holds stage.
func (l Stages) Has(id, stage string) bool { return slices.Contains(l[id], stage) }

// Of returns the stages of version id (nil when it has none or is unknown).
func (l Stages) Of(id string) []string { return l[id] }

// RotationInProgress reports whether a rotation has started and not finished: some version
// holds AWSPENDING and it is not the AWSCURRENT version. Secrets Manager refuses a new
// RotateSecret in that state.
func (l Stages) RotationInProgress() bool {
	pending, ok := l.VersionOf(StagePending)
	return ok && !l.Has(pending, StageCurrent)
}
