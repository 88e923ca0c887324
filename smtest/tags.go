package smtest

import "slices"

// checkTags validates TagResource/CreateSecret tags: keys of 1–128 characters, values of at
// most 256.
func checkTags(tags []tag) *apiError {
	for _, t := range tags {
		if t.Key == nil || len(*t.Key) == 0 || len(*t.Key) > 128 {
			return errf(codeValidation, "1 validation error detected: Value at 'tags.member.key' failed to satisfy constraint: Member must have length between 1 and 128")
		}
		if t.Value != nil && len(*t.Value) > 256 {
			return errf(codeValidation, "1 validation error detected: Value at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to 256")
		}
	}
	return nil
}

// mergeTags returns have with add merged in by key: existing keys take the new value, new
// keys are appended.
func mergeTags(have, add []tag) []tag {
	out := slices.Clone(have)
	for _, t := range add {
		k := *t.Key
		v := t.Value
		if v == nil {
			empty := ""
			v = &empty
		}
		i := slices.IndexFunc(out, func(o tag) bool { return *o.Key == k })
		if i >= 0 {
			out[i].Value = v
		} else {
			out = append(out, tag{Key: &k, Value: v})
		}
	}
	return out
}
