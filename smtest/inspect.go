package smtest

import (
	"slices"
	"sync"
	"time"

	"github.com/rotasafe/rotasafe"
)

// callCounts counts requests. Its own lock keeps counting off the store's and the faults'.
type callCounts struct {
	mu    sync.Mutex
	byOp  map[string]int       // per operation name; nil until the first request
	total int                  // every request, known operation or not
	reads rotasafe.StageCounts // GetSecretValue requests read, by the VersionStage they named
}

// count records one request of op ("" when the target named no operation).
func (c *callCounts) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total++
	if op == "" {
		return
	}
	if c.byOp == nil {
		c.byOp = map[string]int{}
	}
	c.byOp[op]++
}

// Calls returns how many requests of operation op ("GetSecretValue", ...) the server has
// received since it started or since ResetCalls, counting those a fault answered. op ""
// counts every request, of any operation or none.
func (s *Server) Calls(op string) int {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	if op == "" {
		return s.calls.total
	}
	return s.calls.byOp[op]
}

// read records a GetSecretValue request that named stage ("" when it named none).
func (c *callCounts) read(stage string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch stage {
	case rotasafe.StageCurrent:
		c.reads.Current++
	case rotasafe.StagePending:
		c.reads.Pending++
	case rotasafe.StagePrevious:
		c.reads.Previous++
	default:
		c.reads.Other++
	}
}

// ReadsByStage returns how many GetSecretValue requests the server has read since it
// started or since ResetCalls, by the VersionStage each named; Other counts those that
// named another label or none (a read by VersionId alone). A request a fault answered
// before the server read it is in Calls but not here.
func (s *Server) ReadsByStage() rotasafe.StageCounts {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	return s.calls.reads
}

// ResetCalls sets every request count to zero. Pending [Faults.FailAt] faults keep counting
// from when they were set.
func (s *Server) ResetCalls() {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	s.calls.byOp = nil
	s.calls.total = 0
	s.calls.reads = rotasafe.StageCounts{}
}

// VersionInfo describes one stored version for test inspection. It carries no value.
type VersionInfo struct {
	ID       string
	Stages   []string
	HasValue bool // false for a rotation placeholder
	Created  time.Time
}

// Stages returns the staging labels of every labelled version of the secret (what
// DescribeSecret's VersionIdsToStages shows), or nil when secretID matches no secret.
// Reading it is not a request: Calls does not count it and faults do not apply.
func (s *Server) Stages(secretID string) rotasafe.Stages {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(&secretID)
	if err != nil {
		return nil
	}
	return sec.labels()
}

// Versions returns every stored version of the secret, deprecated and placeholder versions
// included, oldest first; nil when secretID matches no secret.
func (s *Server) Versions(secretID string) []VersionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(&secretID)
	if err != nil {
		return nil
	}
	var out []VersionInfo
	for _, v := range sortedVersions(sec) {
		out = append(out, VersionInfo{ID: v.id, Stages: slices.Clone(v.stages), HasValue: v.hasValue, Created: v.created})
	}
	return out
}
