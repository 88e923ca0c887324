package rotasafe

import (
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Labels maps version IDs to their staging labels, as DescribeSecret's VersionIdsToStages
// does. It lists only versions that carry at least one label; deprecated versions are absent.
type Labels map[string][]string

// LabelsOf returns the labels of a DescribeSecret answer (a copy: the answer is not aliased).
func LabelsOf(out *secretsmanager.DescribeSecretOutput) Labels {
	if out == nil {
		return Labels{}
	}
	l := make(Labels, len(out.VersionIdsToStages))
	for id, stages := range out.VersionIdsToStages {
		l[id] = slices.Clone(stages)
	}
	return l
}

// VersionOf returns the ID of the version that holds stage, and whether one does.
func (l Labels) VersionOf(stage string) (string, bool) {
	for id, stages := range l {
		if slices.Contains(stages, stage) {
			return id, true
		}
	}
	return "", false
}

// Has reports whether version id holds stage.
func (l Labels) Has(id, stage string) bool { return slices.Contains(l[id], stage) }

// Stages returns the labels on version id (nil when it has none or is unknown).
func (l Labels) Stages(id string) []string { return l[id] }

// RotationInProgress reports whether a rotation has started and not finished: some version
// holds AWSPENDING and it is not the AWSCURRENT version. Secrets Manager refuses a new
// RotateSecret in that state.
func (l Labels) RotationInProgress() bool {
	pending, ok := l.VersionOf(StagePending)
	return ok && !l.Has(pending, StageCurrent)
}
