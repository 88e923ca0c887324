// Operations that manage secrets rather than their values: UpdateSecret, DeleteSecret,
// RestoreSecret, tags, CancelRotateSecret, ListSecrets and BatchGetSecretValue.

package smtest

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/rotasafe/rotasafe"
)

func (s *Server) updateSecret(_ context.Context, req *request) (any, *apiError) {
	if err := checkValue(req, false); err != nil {
		return nil, err
	}
	hasValue := req.SecretString != nil || req.SecretBinary != nil
	if hasValue {
		if err := checkToken(req.ClientRequestToken, errNoToken); err != nil {
			return nil, err
		}
	}
	if d := req.Description; d != nil && len(*d) > 2048 {
		return nil, errf(codeValidation, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	return s.onSecret(req.SecretId, true, func(sec *secret) (any, *apiError) {
		out := obj{"ARN": sec.arn, "Name": sec.name}
		if hasValue {
			v, err := s.putVersion(sec, *req.ClientRequestToken, req.SecretString, req.SecretBinary, nil)
			if err != nil {
				return nil, err
			}
			out["VersionId"] = v.id
		}
		if req.Description != nil {
			d := *req.Description
			sec.description = &d
		}
		if req.KmsKeyId != nil {
			sec.kmsKeyID = *req.KmsKeyId
		}
		if req.Type != nil {
			sec.typ = *req.Type
		}
		sec.lastChanged = s.now()
		return out, nil
	})
}

func (s *Server) deleteSecret(_ context.Context, req *request) (any, *apiError) {
	force := boolv(req.ForceDeleteWithoutRecovery, false)
	if force && req.RecoveryWindowInDays != nil {
		return nil, errf(codeInvalidParam, "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	days := int64(30)
	if req.RecoveryWindowInDays != nil {
		days = *req.RecoveryWindowInDays
	}
	if days < 7 || days > 30 {
		return nil, errf(codeInvalidParam, "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	sec, err := s.lookup(req.SecretId)
	if err != nil {
		if !force || err.code != codeNotFound {
			return nil, err
		}
		// AWS answers a forced delete of a missing secret with 200 and a made-up ARN.
		id := *req.SecretId
		name, arn := id, ""
		if strings.HasPrefix(id, "arn:") {
			arn, name = id, id[strings.LastIndex(id, ":")+1:]
		} else {
			arn = s.arnFor(id)
		}
		return obj{"ARN": arn, "Name": name, "DeletionDate": epoch(now)}, nil
	}
	if force {
		s.forget(sec)
		return obj{"ARN": sec.arn, "Name": sec.name, "DeletionDate": epoch(now)}, nil
	}
	if !sec.deleted.IsZero() {
		return nil, errDeleted
	}
	sec.deleted = now
	sec.deletionDate = now.Add(time.Duration(days) * 24 * time.Hour)
	return obj{"ARN": sec.arn, "Name": sec.name, "DeletionDate": epoch(sec.deletionDate)}, nil
}

// forget removes a secret for good. The caller holds s.mu.
func (s *Server) forget(sec *secret) {
	if s.secrets[sec.name] == sec {
		delete(s.secrets, sec.name)
	}
	delete(s.rotErr, sec.arn)
}

// purgeExpired removes secrets whose recovery window has passed. The caller holds s.mu.
func (s *Server) purgeExpired() {
	now := s.now()
	for _, sec := range s.secrets {
		if !sec.deleted.IsZero() && !now.Before(sec.deletionDate) {
			s.forget(sec)
		}
	}
}

func (s *Server) restoreSecret(_ context.Context, req *request) (any, *apiError) {
	return s.onSecret(req.SecretId, false, func(sec *secret) (any, *apiError) {
		sec.deleted, sec.deletionDate = time.Time{}, time.Time{}
		return obj{"ARN": sec.arn, "Name": sec.name}, nil
	})
}

func (s *Server) tagResource(_ context.Context, req *request) (any, *apiError) {
	if req.Tags == nil {
		return nil, errf(codeValidation, "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must not be null")
	}
	if err := checkTags(req.Tags); err != nil {
		return nil, err
	}
	return s.onSecret(req.SecretId, true, func(sec *secret) (any, *apiError) {
		sec.tags, sec.tagged = mergeTags(sec.tags, req.Tags), true
		sec.lastChanged = s.now()
		return obj{}, nil
	})
}

func (s *Server) untagResource(_ context.Context, req *request) (any, *apiError) {
	if req.TagKeys == nil {
		return nil, errf(codeValidation, "1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must not be null")
	}
	return s.onSecret(req.SecretId, true, func(sec *secret) (any, *apiError) {
		sec.tags = slices.DeleteFunc(sec.tags, func(t tag) bool { return slices.Contains(req.TagKeys, *t.Key) })
		sec.tagged = true
		sec.lastChanged = s.now()
		return obj{}, nil
	})
}

func (s *Server) cancelRotateSecret(_ context.Context, req *request) (any, *apiError) {
	return s.onSecret(req.SecretId, true, func(sec *secret) (any, *apiError) {
		if sec.rotationEnabled == nil && sec.lambdaARN == "" {
			return nil, errf(codeInvalidReq, "Secret %s has no rotation configuration to cancel.", sec.name)
		}
		off := false
		sec.rotationEnabled = &off
		sec.nextRotation = time.Time{}
		sec.lastChanged = s.now()
		out := obj{"ARN": sec.arn, "Name": sec.name}
		if p := sec.holder(rotasafe.StagePending); p != nil && !p.has(rotasafe.StageCurrent) {
			out["VersionId"] = p.id
		}
		return out, nil
	})
}

var filterKeys = []string{"description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"}

func checkFilters(fs []filter) *apiError {
	if len(fs) > 10 {
		return errf(codeValidation, "1 validation error detected: Value at 'filters' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	for _, f := range fs {
		if f.Key == nil || !slices.Contains(filterKeys, *f.Key) {
			return errf(codeValidation, "1 validation error detected: Value at 'filters.member.key' failed to satisfy constraint: Member must satisfy enum value set: [%s]", strings.Join(filterKeys, ", "))
		}
		if len(f.Values) > 10 {
			return errf(codeValidation, "1 validation error detected: Value at 'filters.member.values' failed to satisfy constraint: Member must have length less than or equal to 10")
		}
	}
	return nil
}

// matches reports whether sec passes every filter. Within a filter, plain values are
// alternatives and "!"-values must all hold.
func (sec *secret) matches(fs []filter) bool {
	for _, f := range fs {
		anyPlain, plainHit := false, false
		for _, v := range f.Values {
			if neg, ok := strings.CutPrefix(v, "!"); ok {
				if sec.matchValue(*f.Key, neg) {
					return false
				}
				continue
			}
			anyPlain = true
			plainHit = plainHit || sec.matchValue(*f.Key, v)
		}
		if anyPlain && !plainHit {
			return false
		}
	}
	return true
}

func (sec *secret) matchValue(key, v string) bool {
	switch key {
	case "name":
		return strings.HasPrefix(sec.name, v)
	case "tag-key":
		return slices.ContainsFunc(sec.tags, func(t tag) bool { return strings.HasPrefix(*t.Key, v) })
	case "tag-value":
		return slices.ContainsFunc(sec.tags, func(t tag) bool { return strings.HasPrefix(str(t.Value), v) })
	case "description":
		return wordPrefix(str(sec.description), v)
	case "all":
		if wordPrefix(sec.name, v) || wordPrefix(str(sec.description), v) {
			return true
		}
		return slices.ContainsFunc(sec.tags, func(t tag) bool { return wordPrefix(*t.Key, v) || wordPrefix(str(t.Value), v) })
	}
	return false // primary-region, owning-service: not modelled
}

// wordPrefix reports whether some word of s, or s itself, starts with v, ignoring case.
func wordPrefix(s, v string) bool {
	s, v = strings.ToLower(s), strings.ToLower(v)
	if strings.HasPrefix(s, v) {
		return true
	}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if strings.HasPrefix(w, v) {
			return true
		}
	}
	return false
}

func (s *Server) listSecrets(_ context.Context, req *request) (any, *apiError) {
	if err := checkFilters(req.Filters); err != nil {
		return nil, err
	}
	max, err := maxResults(req.MaxResults, 100)
	if err != nil {
		return nil, err
	}
	sortBy, order := "created-date", "asc"
	if req.SortBy != nil {
		sortBy = *req.SortBy
	}
	if req.SortOrder != nil {
		order = *req.SortOrder
	}
	if !slices.Contains([]string{"created-date", "last-accessed-date", "last-changed-date", "name"}, sortBy) || (order != "asc" && order != "desc") {
		return nil, errf(codeValidation, "1 validation error detected: SortBy must be created-date, last-accessed-date, last-changed-date or name, and SortOrder asc or desc")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	secs := s.matching(req.Filters, boolv(req.IncludePlannedDeletion, false))
	key := func(sec *secret) time.Time {
		switch sortBy {
		case "last-accessed-date":
			return sec.lastAccessed
		case "last-changed-date":
			return sec.lastChanged
		}
		return sec.created
	}
	slices.SortStableFunc(secs, func(a, b *secret) int {
		c := 0
		if sortBy == "name" {
			c = strings.Compare(a.name, b.name)
		} else {
			c = key(a).Compare(key(b))
		}
		c = cmp.Or(c, strings.Compare(a.arn, b.arn))
		if order == "desc" {
			return -c
		}
		return c
	})
	all := make([]obj, len(secs))
	for i, sec := range secs {
		all[i] = s.describe(sec, "SecretVersionsToStages")
	}
	page, next, err := paginate(all, req.NextToken, max)
	if err != nil {
		return nil, err
	}
	out := obj{"SecretList": page}
	out.str("NextToken", next)
	return out, nil
}

// matching returns the secrets that pass the filters, by creation time. The caller holds s.mu.
func (s *Server) matching(fs []filter, withDeleted bool) []*secret {
	var out []*secret
	for _, sec := range s.secrets {
		if (withDeleted || sec.deleted.IsZero()) && sec.matches(fs) {
			out = append(out, sec)
		}
	}
	slices.SortFunc(out, func(a, b *secret) int { return cmp.Or(a.created.Compare(b.created), strings.Compare(a.arn, b.arn)) })
	return out
}

func (s *Server) batchGetSecretValue(_ context.Context, req *request) (any, *apiError) {
	if (req.SecretIdList == nil) == (req.Filters == nil) {
		return nil, errf(codeInvalidParam, "Either 'SecretIdList' or 'Filters' must be provided, but not both.")
	}
	if req.MaxResults != nil && req.Filters == nil {
		return nil, errf(codeInvalidParam, "'Filters' not specified. 'Filters' must also be specified when 'MaxResults' is provided.")
	}
	if len(req.SecretIdList) > 20 {
		return nil, errf(codeValidation, "1 validation error detected: Value at 'secretIdList' failed to satisfy constraint: Member must have length less than or equal to 20")
	}
	if err := checkFilters(req.Filters); err != nil {
		return nil, err
	}
	max, err := maxResults(req.MaxResults, 20)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	today := dateOnly(s.now())
	values, errs := []obj{}, []obj{}
	read := func(id string, sec *secret) {
		v, err := sec.selectVersion(nil, nil)
		if err != nil {
			errs = append(errs, obj{"SecretId": id, "ErrorCode": err.code, "Message": err.msg})
			return
		}
		sec.lastAccessed, v.lastAccessed = today, today
		values = append(values, valueOut(sec, v))
	}
	out := obj{}
	if req.SecretIdList != nil {
		for _, id := range req.SecretIdList {
			sec, err := s.lookupLive(&id)
			if err != nil {
				errs = append(errs, obj{"SecretId": id, "ErrorCode": err.code, "Message": err.msg})
				continue
			}
			read(id, sec)
		}
	} else {
		secs := s.matching(req.Filters, false)
		all := make([]obj, len(secs))
		for i, sec := range secs {
			all[i] = obj{"arn": sec.arn}
		}
		page, next, err := paginate(all, req.NextToken, max)
		if err != nil {
			return nil, err
		}
		for i := range page {
			sec := secs[slices.IndexFunc(secs, func(x *secret) bool { return x.arn == page[i]["arn"] })]
			read(sec.arn, sec)
		}
		out.str("NextToken", next)
	}
	out["SecretValues"] = values
	out["Errors"] = errs
	return out, nil
}
