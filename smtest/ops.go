// Operations on secret values and their labels: CreateSecret, GetSecretValue,
// DescribeSecret, PutSecretValue, UpdateSecretVersionStage and ListSecretVersionIds.

package smtest

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"

	"github.com/rotasafe/rotasafe"
)

var errNoToken = errf(codeInvalidReq, "You must provide a ClientRequestToken value. We recommend a UUID-type value.")

// checkToken validates a ClientRequestToken: present, 32–64 characters. missing is the error
// for an absent token (its code differs between operations).
func checkToken(tok *string, missing *apiError) *apiError {
	if tok == nil || *tok == "" {
		return missing
	}
	if n := len(*tok); n < 32 || n > 64 {
		return errf(codeValidation, "1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length between 32 and 64")
	}
	return nil
}

// checkValue validates a SecretString/SecretBinary pair. needOne makes "neither" an error.
func checkValue(req *request, needOne bool) *apiError {
	switch {
	case req.SecretString != nil && req.SecretBinary != nil:
		return errf(codeInvalidParam, "You can't specify both a binary secret value and a string secret value in the same secret.")
	case needOne && req.SecretString == nil && req.SecretBinary == nil:
		return errf(codeInvalidReq, "You must provide either SecretString or SecretBinary.")
	case req.SecretString != nil && len(*req.SecretString) > 65536, len(req.SecretBinary) > 65536:
		return errf(codeValidation, "1 validation error detected: the secret value must be at most 65536 bytes")
	}
	return nil
}

func checkStages(stages []string) *apiError {
	if len(stages) > 20 {
		return errf(codeValidation, "1 validation error detected: Value at 'versionStages' failed to satisfy constraint: Member must have length less than or equal to 20")
	}
	for _, st := range stages {
		if st == "" || len(st) > 256 {
			return errf(codeValidation, "1 validation error detected: Value at 'versionStages' failed to satisfy constraint: Member must have length between 1 and 256")
		}
	}
	return nil
}

func tokenInUse(tok, arn string) *apiError {
	return errf(codeExists, "You can't use ClientRequestToken %s because that value is already in use for a version of secret %s.", tok, arn)
}

func (s *Server) createSecret(_ context.Context, req *request) (any, *apiError) {
	name := str(req.Name)
	if !validName(name) {
		return nil, errBadName
	}
	if err := checkValue(req, false); err != nil {
		return nil, err
	}
	if err := checkToken(req.ClientRequestToken, errNoToken); err != nil {
		return nil, err
	}
	if d := req.Description; d != nil && len(*d) > 2048 {
		return nil, errf(codeValidation, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	if err := checkTags(req.Tags); err != nil {
		return nil, err
	}
	tok := *req.ClientRequestToken
	hasValue := req.SecretString != nil || req.SecretBinary != nil

	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.secrets[name]; ok {
		if !sec.deleted.IsZero() {
			return nil, errf(codeInvalidReq, "You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		if v, ok := sec.versions[tok]; ok {
			if hasValue && v.sameValue(req.SecretString, req.SecretBinary) {
				return obj{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id}, nil
			}
			return nil, tokenInUse(tok, sec.arn)
		}
		return nil, errf(codeExists, "The operation failed because the secret %s already exists.", name)
	}
	now := s.now()
	sec := &secret{
		name:        name,
		arn:         s.arnFor(name),
		description: req.Description,
		kmsKeyID:    str(req.KmsKeyId),
		typ:         str(req.Type),
		created:     now,
		lastChanged: now,
		versions:    map[string]*version{},
	}
	if req.Tags != nil {
		sec.tags, sec.tagged = mergeTags(nil, req.Tags), true
	}
	s.secrets[name] = sec
	out := obj{"ARN": sec.arn, "Name": sec.name}
	if hasValue {
		v := &version{id: tok, created: now, stages: []string{rotasafe.StageCurrent}}
		v.setValue(req.SecretString, req.SecretBinary)
		sec.addVersion(v)
		out["VersionId"] = tok
	}
	return out, nil
}

func (s *Server) getSecretValue(_ context.Context, req *request) (any, *apiError) {
	return s.onSecret(req.SecretId, true, func(sec *secret) (any, *apiError) {
		v, err := sec.selectVersion(req.VersionId, req.VersionStage)
		if err != nil {
			return nil, err
		}
		today := dateOnly(s.now())
		sec.lastAccessed, v.lastAccessed = today, today
		return valueOut(sec, v), nil
	})
}

// selectVersion picks the version GetSecretValue reads: by ID, by stage, both (then the
// version must hold the stage), or AWSCURRENT. A valueless version is not found.
func (sec *secret) selectVersion(id, stage *string) (*version, *apiError) {
	if id != nil && *id != "" {
		v, ok := sec.versions[*id]
		if !ok {
			return nil, errf(codeNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s", *id)
		}
		if stage != nil && *stage != "" && !v.has(*stage) {
			return nil, errf(codeInvalidReq, "You provided a VersionStage that is not associated to the provided VersionId.")
		}
		if !v.hasValue {
			if stage != nil && *stage != "" {
				return nil, errf(codeNotFound, "Secrets Manager can't find the specified secret value for staging label: %s", *stage)
			}
			return nil, errf(codeNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s", *id)
		}
		return v, nil
	}
	st := rotasafe.StageCurrent
	if stage != nil && *stage != "" {
		st = *stage
	}
	v := sec.holder(st)
	if v == nil || !v.hasValue {
		return nil, errf(codeNotFound, "Secrets Manager can't find the specified secret value for staging label: %s", st)
	}
	return v, nil
}

// valueOut is GetSecretValue's answer for version v.
func valueOut(sec *secret, v *version) obj {
	out := obj{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id}
	if v.str != nil {
		out["SecretString"] = *v.str
	} else {
		out["SecretBinary"] = base64.StdEncoding.EncodeToString(v.bin)
	}
	if len(v.stages) > 0 {
		out["VersionStages"] = slices.Clone(v.stages)
	}
	out.time("CreatedDate", v.created)
	return out
}

func (s *Server) describeSecret(_ context.Context, req *request) (any, *apiError) {
	return s.onSecret(req.SecretId, false, func(sec *secret) (any, *apiError) {
		return s.describe(sec, "VersionIdsToStages"), nil
	})
}

// describe is DescribeSecret's answer; ListSecrets names the label map differently.
func (s *Server) describe(sec *secret, labelsKey string) obj {
	out := obj{"ARN": sec.arn, "Name": sec.name}
	if sec.description != nil {
		out["Description"] = *sec.description
	}
	out.str("KmsKeyId", sec.kmsKeyID)
	out.str("Type", sec.typ)
	out.time("CreatedDate", sec.created)
	out.time("LastChangedDate", sec.lastChanged)
	out.time("LastAccessedDate", sec.lastAccessed)
	out.time("DeletedDate", sec.deleted)
	if sec.tagged {
		tags := sec.tags
		if tags == nil {
			tags = []tag{}
		}
		out["Tags"] = tags
	}
	if l := sec.labels(); len(l) > 0 {
		out[labelsKey] = l
	}
	if sec.rotationEnabled != nil {
		out["RotationEnabled"] = *sec.rotationEnabled
	}
	out.str("RotationLambdaARN", sec.lambdaARN)
	if sec.rules != nil {
		out["RotationRules"] = sec.rules
	}
	out.time("LastRotatedDate", sec.lastRotated)
	out.time("NextRotationDate", sec.nextRotation)
	return out
}

func (s *Server) putSecretValue(_ context.Context, req *request) (any, *apiError) {
	if err := checkValue(req, true); err != nil {
		return nil, err
	}
	if err := checkToken(req.ClientRequestToken, errNoToken); err != nil {
		return nil, err
	}
	if err := checkStages(req.VersionStages); err != nil {
		return nil, err
	}
	if err := checkRotationToken(req.RotationToken); err != nil {
		return nil, err
	}
	return s.onSecret(req.SecretId, true, func(sec *secret) (any, *apiError) {
		if rt := req.RotationToken; rt != nil {
			if active, ok := s.active[sec.arn]; ok && active != *rt {
				return nil, errf(codeAccessDenied, "The RotationToken does not match the rotation in progress for secret %s.", sec.arn)
			}
		}
		v, err := s.putVersion(sec, *req.ClientRequestToken, req.SecretString, req.SecretBinary, req.VersionStages)
		if err != nil {
			return nil, err
		}
		return obj{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": slices.Clone(v.stages)}, nil
	})
}

// putVersion stores a value under token tok and applies the staging labels (AWSCURRENT when
// stages is empty). Same token and value as a stored version is a no-op; a different value is
// ResourceExistsException; a valueless placeholder is filled. The caller holds s.mu.
func (s *Server) putVersion(sec *secret, tok string, str *string, bin []byte, stages []string) (*version, *apiError) {
	if v, ok := sec.versions[tok]; ok && v.hasValue {
		if v.sameValue(str, bin) {
			return v, nil
		}
		return nil, tokenInUse(tok, sec.arn)
	}
	if len(stages) == 0 {
		stages = []string{rotasafe.StageCurrent}
	}
	if !sec.hasValue() && !slices.Contains(stages, rotasafe.StageCurrent) {
		stages = append(slices.Clone(stages), rotasafe.StageCurrent)
	}
	if err := sec.checkLabelLimit(stages); err != nil {
		return nil, err
	}
	now := s.now()
	v, ok := sec.versions[tok]
	if !ok {
		v = &version{id: tok, created: now}
		sec.addVersion(v)
	}
	v.setValue(str, bin)
	for _, st := range stages {
		sec.moveStage(st, v)
	}
	sec.lastChanged = now
	sec.prune(now, s.cfg.keepAll)
	return v, nil
}

// maxLabels is how many distinct staging labels a secret may carry.
const maxLabels = 20

// checkLabelLimit refuses adding stages when the secret would then carry more than maxLabels
// distinct labels (AWSPREVIOUS counted, as it may follow AWSCURRENT).
func (sec *secret) checkLabelLimit(stages []string) *apiError {
	labels := map[string]bool{}
	for _, v := range sec.versions {
		for _, st := range v.stages {
			labels[st] = true
		}
	}
	for _, st := range stages {
		labels[st] = true
		if st == rotasafe.StageCurrent {
			labels[rotasafe.StagePrevious] = true
		}
	}
	if len(labels) > maxLabels {
		return errf("LimitExceededException", "You have exceeded the maximum number of staging labels (%d) for secret %s.", maxLabels, sec.arn)
	}
	return nil
}

func checkRotationToken(rt *string) *apiError {
	if rt == nil {
		return nil
	}
	ok := len(*rt) >= 36 && len(*rt) <= 256
	for i := 0; ok && i < len(*rt); i++ {
		c := (*rt)[i]
		ok = c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	if !ok {
		return errf(codeValidation, "1 validation error detected: Value at 'rotationToken' failed to satisfy constraint: Member must be 36 to 256 characters of [a-zA-Z0-9-]")
	}
	return nil
}

func (s *Server) updateSecretVersionStage(_ context.Context, req *request) (any, *apiError) {
	stage := str(req.VersionStage)
	if stage == "" || len(stage) > 256 {
		return nil, errf(codeValidation, "1 validation error detected: Value at 'versionStage' failed to satisfy constraint: Member must have length between 1 and 256")
	}
	moveTo, removeFrom := str(req.MoveToVersionId), str(req.RemoveFromVersionId)
	return s.onSecret(req.SecretId, true, func(sec *secret) (any, *apiError) {
		holder := sec.holder(stage)
		switch {
		case moveTo != "":
			to, ok := sec.versions[moveTo]
			if !ok {
				return nil, errf(codeInvalidParam, "Not a valid version: %s", moveTo)
			}
			if holder != nil && holder != to {
				if removeFrom == "" {
					return nil, errf(codeInvalidParam, "The parameter RemoveFromVersionId can't be empty. Staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.", stage, holder.id)
				}
				if removeFrom != holder.id {
					return nil, errf(codeInvalidParam, "When you move staging label %s, if you specify RemoveFromVersionId, it must be set to the version that currently has the staging label %s.", stage, stage)
				}
			}
			if err := sec.checkLabelLimit([]string{stage}); err != nil {
				return nil, err
			}
			sec.moveStage(stage, to)
		case removeFrom != "":
			from, ok := sec.versions[removeFrom]
			if !ok {
				return nil, errf(codeInvalidParam, "Not a valid version: %s", removeFrom)
			}
			if !from.has(stage) {
				return nil, errf(codeInvalidParam, "The staging label %s is not attached to version %s.", stage, removeFrom)
			}
			if stage == rotasafe.StageCurrent {
				return nil, errf(codeInvalidParam, "You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed.")
			}
			removeStage(from, stage)
		default:
			return nil, errf(codeInvalidParam, "You must specify MoveToVersionId, RemoveFromVersionId or both.")
		}
		now := s.now()
		sec.lastChanged = now
		sec.prune(now, s.cfg.keepAll)
		return obj{"ARN": sec.arn, "Name": sec.name}, nil
	})
}

func (s *Server) listSecretVersionIds(_ context.Context, req *request) (any, *apiError) {
	max, err := maxResults(req.MaxResults, 100)
	if err != nil {
		return nil, err
	}
	return s.onSecret(req.SecretId, false, func(sec *secret) (any, *apiError) {
		var all []obj
		for _, v := range sortedVersions(sec) {
			if !v.hasValue || (len(v.stages) == 0 && !boolv(req.IncludeDeprecated, false)) {
				continue
			}
			e := obj{"VersionId": v.id, "KmsKeyIds": []string{kmsKeyName(sec.kmsKeyID)}}
			if len(v.stages) > 0 {
				e["VersionStages"] = slices.Clone(v.stages)
			}
			e.time("CreatedDate", v.created)
			e.time("LastAccessedDate", v.lastAccessed)
			all = append(all, e)
		}
		page, next, err := paginate(all, req.NextToken, max)
		if err != nil {
			return nil, err
		}
		out := obj{"ARN": sec.arn, "Name": sec.name, "Versions": page}
		out.str("NextToken", next)
		return out, nil
	})
}

func kmsKeyName(id string) string {
	if id == "" {
		return "DefaultEncryptionKey"
	}
	return id
}

func maxResults(p *int, limit int) (int, *apiError) {
	if p == nil {
		return limit, nil
	}
	if *p < 1 || *p > limit {
		return 0, errf(codeValidation, "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value between 1 and %d", limit)
	}
	return *p, nil
}

const tokenPrefix = "smtest-page-"

// paginate cuts one page of at most max items starting at the offset the token names.
func paginate(all []obj, token *string, max int) ([]obj, string, *apiError) {
	start := 0
	if token != nil {
		b, err := base64.RawURLEncoding.DecodeString(*token)
		n, err2 := strconv.Atoi(string(b[min(len(b), len(tokenPrefix)):]))
		if err != nil || err2 != nil || len(b) < len(tokenPrefix) || string(b[:len(tokenPrefix)]) != tokenPrefix || n < 0 || n > len(all) {
			return nil, "", errf(codeNextToken, "The NextToken value is not valid.")
		}
		start = n
	}
	end := min(start+max, len(all))
	page := all[start:end]
	if page == nil {
		page = []obj{}
	}
	next := ""
	if end < len(all) {
		next = base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + strconv.Itoa(end)))
	}
	return page, next, nil
}
