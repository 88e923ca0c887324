package smtest

import (
	"context"
	"maps"
	"sync"
	"time"
)

// faults counts requests and holds the injected faults. Its own mutex (not Server.mu) guards
// it, so fault checks never wait on the store.
type faults struct {
	mu       sync.Mutex
	calls    map[string]int           // per operation name
	total    int                      // every request, known operation or not
	seq      int                      // requests to known operations; FailAt counts these
	latency  map[string]time.Duration // by operation, "" = all
	failNext []failRule               // consumed in order
	failAt   map[int]string           // absolute seq -> code
	buckets  map[string]*bucket       // by operation, "" = all
	outage   bool
}

type failRule struct {
	op     string
	left   int
	code   string
	status int // 0 = the code's usual status
}

type bucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

// orDefault returns code, or InternalServiceError when it is empty.
func orDefault(code string) string {
	if code == "" {
		return "InternalServiceError"
	}
	return code
}

func (f *faults) init() {
	f.calls = map[string]int{}
	f.latency = map[string]time.Duration{}
	f.failAt = map[int]string{}
	f.buckets = map[string]*bucket{}
}

// count records one request of op ("" when the target named no operation).
func (f *faults) count(op string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total++
	if op != "" {
		f.calls[op]++
	}
}

// before applies the faults to one request of a known operation: it sleeps for the injected
// latency (without any lock held), then answers the first fault that fires, or nil.
func (f *faults) before(reqCtx, baseCtx context.Context, op string) *apiError {
	f.mu.Lock()
	f.seq++
	seq := f.seq
	d := f.latency[""] + f.latency[op]
	f.mu.Unlock()

	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-reqCtx.Done():
			t.Stop()
		case <-baseCtx.Done():
			t.Stop()
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.outage {
		return errf(codeUnavailable, "The service is unavailable (smtest outage).")
	}
	if code, ok := f.failAt[seq]; ok {
		delete(f.failAt, seq)
		return errf(code, "Injected failure of request %d (%s).", seq, op)
	}
	for i := range f.failNext {
		r := &f.failNext[i]
		if r.left > 0 && (r.op == "" || r.op == op) {
			r.left--
			e := errf(r.code, "Injected failure of %s.", op)
			if r.status != 0 {
				e.status = r.status
			}
			if r.left == 0 {
				f.failNext = append(f.failNext[:i], f.failNext[i+1:]...)
			}
			return e
		}
	}
	for _, key := range []string{"", op} {
		if b, ok := f.buckets[key]; ok && !b.take(time.Now()) {
			return errf(codeThrottling, "Rate exceeded")
		}
	}
	return nil
}

// take refills the bucket for the time since the last call and takes a token if one is there.
func (b *bucket) take(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// Calls returns how many requests of operation op ("GetSecretValue", ...) the server has
// received since it started or since ResetCalls, counting those a fault answered.
func (s *Server) Calls(op string) int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.calls[op]
}

// TotalCalls returns how many requests the server has received, of every operation.
func (s *Server) TotalCalls() int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.total
}

// CallCounts returns a copy of the per-operation request counts.
func (s *Server) CallCounts() map[string]int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return maps.Clone(s.faults.calls)
}

// ResetCalls sets every request count to zero. Pending FailAt faults keep counting from
// when they were set.
func (s *Server) ResetCalls() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.calls = map[string]int{}
	s.faults.total = 0
}

// InjectLatency delays every later request of op ("" = every operation) by d before it is
// answered; latencies for "" and for op add up. d <= 0 removes the latency. The server holds
// no lock while it waits, and Close cuts the wait short.
func (s *Server) InjectLatency(op string, d time.Duration) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if d <= 0 {
		delete(s.faults.latency, op)
		return
	}
	s.faults.latency[op] = d
}

// FailNext makes the next n requests of op ("" = any operation) fail with error code code,
// at HTTP 500 for InternalServiceError, 503 for ServiceUnavailable and 400 otherwise. Codes
// the SDK models (ResourceNotFoundException, InternalServiceError, ...) decode as their typed
// errors. An empty code means InternalServiceError. Rules queue up: an earlier rule is used up first.
func (s *Server) FailNext(op string, n int, code string) {
	if n <= 0 {
		return
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.failNext = append(s.faults.failNext, failRule{op: op, left: n, code: orDefault(code)})
}

// FailNextStatus is FailNext with an explicit HTTP status, for instance InternalServiceError
// at 400, which the SDK does not retry.
func (s *Server) FailNextStatus(op string, n int, code string, status int) {
	if n <= 0 {
		return
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.failNext = append(s.faults.failNext, failRule{op: op, left: n, code: orDefault(code), status: status})
}

// FailAt makes the k-th request from now (k = 1 is the next one), whatever its operation,
// fail with error code code (status as in FailNext). It is meant to interrupt a rotation at
// each of its API calls in turn. k < 1 does nothing.
func (s *Server) FailAt(k int, code string) {
	if k < 1 {
		return
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.failAt[s.faults.seq+k] = orDefault(code)
}

// SetRateLimit throttles op ("" = all operations together) with a token bucket of burst
// tokens refilled at perSecond: a request that finds the bucket empty gets
// ThrottlingException at HTTP 400, which the SDK retries as throttling. perSecond <= 0
// removes the limit. burst < 1 counts as 1.
func (s *Server) SetRateLimit(op string, perSecond float64, burst int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if perSecond <= 0 {
		delete(s.faults.buckets, op)
		return
	}
	burst = max(burst, 1)
	s.faults.buckets[op] = &bucket{rate: perSecond, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// SetOutage turns a full outage on or off: while on, every request gets ServiceUnavailable at
// HTTP 503, which the SDK retries as a server fault and then reports.
func (s *Server) SetOutage(on bool) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.outage = on
}

// ClearFaults removes every injected fault: latency, FailNext and FailAt rules, rate limits
// and the outage. Call counts are kept.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.latency = map[string]time.Duration{}
	s.faults.failNext = nil
	s.faults.failAt = map[int]string{}
	s.faults.buckets = map[string]*bucket{}
	s.faults.outage = false
}
