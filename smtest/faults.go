package smtest

import (
	"context"
	"sync"
	"time"
)

// Faults injects failures into the answers of one [Server]: latency, error codes, throttling
// and a full outage. Get it from [Server.Faults]. Its methods are safe for concurrent use and
// take effect from the next request. Where a method takes an operation name op
// ("GetSecretValue", ...), "" means every operation.
type Faults struct {
	mu       sync.Mutex               // guards the fields below; never held while a request waits
	seq      int                      // requests to known operations; FailAt counts these
	latency  map[string]time.Duration // by operation
	failNext []failRule               // consumed in order
	failAt   map[int]string           // absolute seq -> code
	buckets  map[string]*bucket       // by operation
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

// init makes the maps of a zero Faults. The caller holds f.mu.
func (f *Faults) init() {
	if f.latency == nil {
		f.reset()
	}
}

// reset removes every fault. The caller holds f.mu.
func (f *Faults) reset() {
	f.latency = map[string]time.Duration{}
	f.failNext = nil
	f.failAt = map[int]string{}
	f.buckets = map[string]*bucket{}
	f.outage = false
}

// before applies the faults to one request of a known operation: it sleeps for the injected
// latency (without any lock held), then answers the first fault that fires, or nil.
func (f *Faults) before(reqCtx, baseCtx context.Context, op string) *apiError {
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

// Latency delays every later request of op by d before it is answered; latencies for "" and
// for op add up. d <= 0 removes the latency. The server holds no lock while it waits, and
// [Server.Close] cuts the wait short.
func (f *Faults) Latency(op string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d <= 0 {
		delete(f.latency, op)
		return
	}
	f.init()
	f.latency[op] = d
}

// FailNext makes the next n requests of op fail with error code code, at HTTP 500 for
// InternalServiceError, 503 for ServiceUnavailable and 400 otherwise. Codes the SDK models
// (ResourceNotFoundException, InternalServiceError, ...) decode as their typed errors. An
// empty code means InternalServiceError. Rules queue up: an earlier rule is used up first.
// n <= 0 does nothing.
func (f *Faults) FailNext(op string, n int, code string) { f.FailNextStatus(op, n, code, 0) }

// FailNextStatus is FailNext with an explicit HTTP status, for instance InternalServiceError
// at 400, which the SDK does not retry. Status 0 means the code's usual status.
func (f *Faults) FailNextStatus(op string, n int, code string, status int) {
	if n <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = append(f.failNext, failRule{op: op, left: n, code: orDefault(code), status: status})
}

// FailAt makes the k-th request from now (k = 1 is the next one), whatever its operation,
// fail with error code code (status as in FailNext). It counts requests to known operations
// only, and is meant to interrupt a rotation at each of its API calls in turn. k < 1 does
// nothing.
func (f *Faults) FailAt(k int, code string) {
	if k < 1 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	f.failAt[f.seq+k] = orDefault(code)
}

// RateLimit throttles op ("" = all operations together) with a token bucket of burst tokens
// refilled at perSecond: a request that finds the bucket empty gets ThrottlingException at
// HTTP 400, which the SDK retries as throttling. perSecond <= 0 removes the limit. burst < 1
// counts as 1. The bucket runs on the real clock, not [WithClock]'s.
func (f *Faults) RateLimit(op string, perSecond float64, burst int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if perSecond <= 0 {
		delete(f.buckets, op)
		return
	}
	burst = max(burst, 1)
	f.init()
	f.buckets[op] = &bucket{rate: perSecond, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// Outage turns a full outage on or off: while on, every request gets ServiceUnavailable at
// HTTP 503, which the SDK retries as a server fault and then reports.
func (f *Faults) Outage(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outage = on
}

// Clear removes every injected fault: latency, FailNext and FailAt rules, rate limits and the
// outage. Request counts ([Server.Calls]) are kept.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reset()
}
