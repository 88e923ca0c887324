// Package fleet simulates a fleet of application instances that read one database secret
// from one Secrets Manager (smtest, through the real aws-sdk-go-v2 client) while the
// secret is rotated, and counts what Secrets Manager sees: calls per second, throttled
// calls, and the connects that fail where the application can see it.
//
//	res, err := fleet.Run(ctx, fleet.Config{Instances: 10000, Strategy: fleet.Rotasafe})
//
// Two strategies are compared. Rotasafe runs rotasafe's own code: each instance has its own
// cache.Cache (jittered TTL, one shared fetch per secret and label, a floor per rejected
// version, stale-if-throttled) and the credential walk that sqlconn, redisconn and
// pgxpoolconn share (package login: after a rejected login read AWSPENDING once, AWSCURRENT
// only when that answer does not say where it is, AWSPREVIOUS only when nothing newer logs
// in; a gate against retry storms). Baseline: a fixed-TTL cache without coalescing that
// refetches AWSCURRENT on every rejected login and retries once, as the AWS JDBC wrapper's
// default and the AWS Advanced Go Wrapper do. The database is a stand-in that accepts the
// passwords it is told to: the simulation counts Secrets Manager calls, which need no real
// database.
package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/notice"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/smtest"
)

// Strategy names how instances read the secret.
type Strategy string

// The strategies Run compares.
const (
	Rotasafe Strategy = "rotasafe" // cache.Cache + sqlconn.Connector
	Baseline Strategy = "baseline" // fixed TTL, no coalescing, a refetch per rejected login
)

// Scenario names what happens during a run.
type Scenario string

// The scenarios Run simulates.
const (
	// Rotation: a single-user rotation. At RotateAt the database takes only the new password
	// and AWSPENDING holds it; Window later AWSCURRENT moves to it. Instances find out by
	// failed logins. TTL 1 h: nothing expires in the run.
	Rotation Scenario = "rotation"
	// Expiry: the fleet started together TTL ago (20 s by default) and its cached values
	// expire now; meanwhile a rotation moved AWSCURRENT to credentials that work alongside
	// the old ones (alternating users), so instances find out by their TTL alone.
	Expiry Scenario = "expiry"
	// RotationNotices: the Rotation scenario with rotation notices (package notice), as
	// rotate.WithNotices sends them: the rotator publishes notice.PendingStored once
	// AWSPENDING holds the new value, notice.PasswordChanged right after the database takes
	// it, and notice.Finished once AWSCURRENT moved, and every instance's cache listens
	// (cache.WithNotices) through an in-process transport. Rotasafe only.
	RotationNotices Scenario = "rotation-notices"
)

// Config describes one simulated run. Durations and rates are in modeled time; see Dilation.
type Config struct {
	Instances int      // application instances (default 10,000)
	Strategy  Strategy // Rotasafe or Baseline
	Scenario  Scenario // Rotation (default) or Expiry

	// QuotaPerInstance is the GetSecretValue rate limit, per instance per second: the fleet
	// shares Instances*QuotaPerInstance calls per second with a burst of one second's worth.
	// The default, 1, is AWS's 10,000/s shared by 10,000 instances.
	QuotaPerInstance float64

	ConnectRate float64       // new database connections per instance per second (default 2; Expiry: 10)
	Window      time.Duration // from the password change (setSecret) to AWSCURRENT moving (finishSecret); default 1 s
	RotateAt    time.Duration // when the password changes (default 1 s)
	Duration    time.Duration // measured run (default 6 s)
	Latency     time.Duration // added to every Secrets Manager request (default 20 ms)
	TTL         time.Duration // the caches' TTL (default 1 h; Expiry: 20 s)
	Bin         time.Duration // width of the per-bin counts (default 100 ms)

	// RemovePending makes the Rotation scenario's finishSecret take AWSPENDING off the new
	// AWSCURRENT version after moving AWSCURRENT, as some rotation functions do. AWS's rotation
	// function templates leave it there (the default), and so do Secrets Manager and
	// rotate.Handler.
	RemovePending bool

	// ConnectTimeout bounds each connect of the measured run, in modeled time (default 5 s).
	// Past it the connect counts as failed.
	ConnectTimeout time.Duration

	// NoticeWindow is the caches' notice window (cache.WithNoticeWindow) in modeled time,
	// for RotationNotices; 0 means cache.DefaultNoticeWindow.
	NoticeWindow time.Duration

	// NoticeLead makes the RotationNotices rotator announce ahead, as rotate.WithNoticeLead
	// does: pending-stored carries the lead and the rotator waits it out, then
	// password-changing, NoticeSettle (default rotate.DefaultNoticeSettle), the password
	// change and password-changed. 0: the rotator announces after each step, as without a
	// lead. NoticeHold is the caches' hold bound (cache.WithNoticeHold; 0: the default).
	// All in modeled time.
	NoticeLead, NoticeSettle, NoticeHold time.Duration

	// NoticeLoss is the share of notices lost, each notice to each instance on its own
	// (RotationNotices): 0.1 loses one in ten.
	NoticeLoss float64

	// sweep makes Run connect every instance once more after the run and the rotation
	// ended, with the caches' clock stopped: then every instance has found out about the
	// rotation, however slow the machine was, and the counts are exact (tests).
	sweep bool

	// CacheOptions are appended to the options of every Rotasafe instance's cache.Cache,
	// for tests that need a setting other than the simulation's.
	CacheOptions []cache.Option

	// Dilation runs the simulation this many times slower than modeled time, so that two
	// cores can serve the fleet: the caches read a virtual clock that runs 1/Dilation as fast
	// as the real one (and starts at the fleet's start), every real wait (connect arrivals,
	// injected latency, the connector's retry backoff, the SDK's retry backoff, timeouts) is
	// multiplied by it and the rate limit divided by it. Results are in modeled time. The
	// default is max(1, Instances/1000) for Rotation and max(1, Instances/2000) for Expiry;
	// a value below 1 runs faster than modeled time (for tests).
	Dilation float64
}

func (c *Config) defaults() {
	if c.Instances <= 0 {
		c.Instances = 10000
	}
	if c.Strategy == "" {
		c.Strategy = Rotasafe
	}
	if c.Scenario == "" {
		c.Scenario = Rotation
	}
	expiry := c.Scenario == Expiry
	if expiry && c.ConnectRate <= 0 {
		c.ConnectRate = 10
	}
	if expiry && c.TTL <= 0 {
		c.TTL = 20 * time.Second
	}
	if expiry && c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if expiry && c.RotateAt <= 0 {
		c.RotateAt = 500 * time.Millisecond
	}
	if expiry && c.Dilation <= 0 {
		c.Dilation = max(1, float64(c.Instances)/2000)
	}
	if c.QuotaPerInstance <= 0 {
		c.QuotaPerInstance = 1
	}
	if c.ConnectRate <= 0 {
		c.ConnectRate = 2
	}
	if c.Window <= 0 {
		c.Window = time.Second
	}
	if c.RotateAt <= 0 {
		c.RotateAt = time.Second
	}
	if c.Duration <= 0 {
		c.Duration = 6 * time.Second
	}
	if c.Latency < 0 {
		c.Latency = 0
	} else if c.Latency == 0 {
		c.Latency = 20 * time.Millisecond
	}
	if c.TTL <= 0 {
		c.TTL = time.Hour
	}
	if c.Bin <= 0 {
		c.Bin = 100 * time.Millisecond
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.Dilation <= 0 {
		c.Dilation = max(1, float64(c.Instances)/1000)
	}
	if c.NoticeLead > 0 && c.NoticeSettle <= 0 {
		c.NoticeSettle = rotate.DefaultNoticeSettle
	}
	if c.NoticeHold <= 0 {
		c.NoticeHold = cache.DefaultNoticeHold
	}
	// The rotation ends with 2 s of the run to spare.
	c.Duration = max(c.Duration, c.RotateAt+c.NoticeLead+c.NoticeSettle+c.Window+2*time.Second)
}

// Result is what Secrets Manager and the application saw in one run.
type Result struct {
	Config Config

	Calls     []int    // GetSecretValue and DescribeSecret requests per bin (throttled ones included)
	Throttled []int    // requests answered ThrottlingException, per bin
	ByStage   [3][]int // requests per bin naming AWSCURRENT, AWSPENDING, AWSPREVIOUS (a request without VersionStage reads AWSCURRENT too)

	TotalCalls     int
	TotalThrottled int
	PeakPerSecond  int // most requests in any one-second window (modeled)
	Connects       int // connects attempted
	Failures       int // connects that returned an error to the application
	Limit          float64
	Elapsed        time.Duration // real time the run took
	// Lag and MaxLag are the p99 and the largest delay, in modeled time, with which a
	// 10 ms (modeled) sleep woke up during the run: how far a loaded machine fell behind
	// the modeled clock. A lag near the modeled latency or above distorts the run.
	Lag, MaxLag time.Duration

	// Rotasafe only: what the instances' caches and walks counted in the measured run.
	Reads     rotasafe.StageCounts // GetSecretValue calls the caches made, by the label asked
	Rejected  rotasafe.StageCounts // logins the database rejected, by the label the version held
	Fallbacks rotasafe.StageCounts // logins that worked with a version other than the cached AWSCURRENT
	Rereads   rotasafe.StageCounts // Source.Reread calls the walks made (the caches coalesce them into Reads)
	Noticed   int                  // instances that had a login rejected
	// NoticesReceived is how many notices the instances' caches acted on (RotationNotices).
	NoticesReceived int
	// Holds is how many holds of new logins the caches began (password-changing notices).
	Holds int
	// HoldWait is how long the logins that began while the password was changing (from
	// password-changing to password-changed, NoticeLead) waited in Prefer, in modeled time.
	HoldWait Waits
	// CallsPerInstance[k] is the number of instances whose cache made k GetSecretValue
	// calls in the measured run; the last entry counts k or more.
	CallsPerInstance [maxCallsHist + 1]int

	sweepFailures int // connects of the sweep (Config.sweep) that failed
}

// maxCallsHist is the last bucket of Result.CallsPerInstance.
const maxCallsHist = 5

// Run simulates one fleet. Each instance has its own SDK client (and so its own SDK retry
// quota); they share one HTTP transport to smtest.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	d := cfg.Dilation
	dil := func(t time.Duration) time.Duration { return time.Duration(float64(t) * d) }

	sm := smtest.NewServer()
	defer sm.Close()
	admin := sm.Client()
	const id = "fleet/db"
	db := &fakeDB{}
	v0 := value(0)
	created, err := admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String(v0)})
	if err != nil {
		return nil, err
	}
	var notices *fanout
	waits := &waitRecorder{}
	if cfg.Scenario == RotationNotices {
		if cfg.Strategy != Rotasafe {
			return nil, fmt.Errorf("fleet: scenario %q runs only with strategy %q", cfg.Scenario, Rotasafe)
		}
		notices = newFanout(cfg.NoticeLoss)
	}
	db.set(v0)

	// The caches' clock: modeled time since the fleet started, plus skip, which jumps the
	// Expiry scenario to shortly before the fleet's values expire.
	base := time.Now()
	var skip atomic.Int64
	var frozen atomic.Int64 // when not 0, the clock stands at base plus this
	vnow := func() time.Time {
		if f := frozen.Load(); f != 0 {
			return base.Add(time.Duration(f))
		}
		return base.Add(time.Duration(skip.Load()) + time.Duration(float64(time.Since(base))/d))
	}

	bins := int(cfg.Duration/cfg.Bin) + 1
	rec := &recorder{calls: make([]atomic.Int64, bins), throttled: make([]atomic.Int64, bins), bin: dil(cfg.Bin)}
	for k := range rec.stage {
		rec.stage[k] = make([]atomic.Int64, bins)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 512
	tr.MaxConnsPerHost = 512
	hc := &http.Client{Transport: &countingTransport{next: tr, rec: rec}}
	backoff := dilatedBackoff{awsretry.NewExponentialJitterBackoff(20 * time.Second), d}

	insts := make([]instance, cfg.Instances)
	for i := range insts {
		client := sm.Client(func(o *secretsmanager.Options) {
			o.HTTPClient = hc
			o.Retryer = awsretry.NewStandard(func(so *awsretry.StandardOptions) { so.Backoff = backoff })
		})
		switch cfg.Strategy {
		case Rotasafe:
			insts[i] = newRotasafe(client, id, db, cfg, dil, vnow, notices, waits)
		case Baseline:
			insts[i] = &baseline{client: client, id: id, db: db, ttl: cfg.TTL, now: vnow}
		default:
			return nil, fmt.Errorf("fleet: unknown strategy %q", cfg.Strategy)
		}
	}
	defer func() {
		for _, in := range insts {
			in.close()
		}
	}()

	// Warm every instance before the measured run, without a rate limit, 64 at a time.
	if err := warm(ctx, insts); err != nil {
		return nil, err
	}
	if notices != nil {
		// Every cache subscribes on a goroutine of its own: wait until all of them listen.
		for notices.subscribers() < len(insts) {
			if err := sleep(ctx, time.Millisecond); err != nil {
				return nil, err
			}
		}
	}
	if cfg.Scenario == Expiry {
		// The run starts 6 s (modeled) before a value fetched at the start would expire, so
		// that it covers rotasafe's refresh-ahead window ([0.85, 1] of a TTL spread by ±10 %)
		// and the baseline's expiry.
		skip.Store(int64(cfg.TTL - 6*time.Second - time.Duration(float64(time.Since(base))/d)))
	}
	sm.Faults().Latency("", dil(cfg.Latency))
	limit := float64(cfg.Instances) * cfg.QuotaPerInstance
	sm.Faults().RateLimit("GetSecretValue", limit/d, int(math.Max(1, limit)))

	res := &Result{Config: cfg, Limit: limit}
	before := make([]instanceStats, len(insts))
	for i, in := range insts {
		before[i] = statsOf(in)
	}
	start := time.Now()
	rec.start(start)
	runCtx, cancel := context.WithTimeout(ctx, dil(cfg.Duration))
	defer cancel()

	// The lag probe: how late a short sleep wakes up, which is how far the machine falls
	// behind the modeled clock.
	lagc := make(chan []time.Duration, 1)
	go func() {
		var lags []time.Duration
		period := dil(10 * time.Millisecond)
		for runCtx.Err() == nil {
			t0 := time.Now()
			time.Sleep(period)
			lags = append(lags, time.Since(t0)-period)
		}
		lagc <- lags
	}()

	var connects, failures atomic.Int64
	var wg sync.WaitGroup
	for _, in := range insts {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			for {
				wait := time.Duration(r.ExpFloat64() / cfg.ConnectRate * float64(time.Second) * d)
				t := time.NewTimer(wait)
				select {
				case <-runCtx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				connects.Add(1)
				wg.Go(func() {
					cctx, cancel := context.WithTimeout(ctx, dil(cfg.ConnectTimeout))
					defer cancel()
					if err := in.connect(cctx); err != nil {
						failures.Add(1)
					}
				})
			}
		})
	}

	// The rotation: AWSPENDING and the password change at RotateAt, AWSCURRENT moves
	// Window later (AWSPREVIOUS follows).
	rotErr := make(chan error, 1)
	go func() {
		if cfg.Scenario == Expiry {
			rotErr <- rotateAlternating(ctx, admin, id, db, dil(cfg.RotateAt))
			return
		}
		var pub notice.Publisher
		if notices != nil {
			pub = notices
		}
		rotErr <- rotateSingle(ctx, admin, id, aws.ToString(created.ARN), db, cfg, dil, pub, waits)
	}()
	wg.Wait()
	if err := <-rotErr; err != nil {
		return nil, fmt.Errorf("fleet: rotation: %w", err)
	}
	res.Elapsed = time.Since(start)
	if lags := <-lagc; len(lags) > 0 {
		slices.Sort(lags)
		res.Lag = time.Duration(float64(lags[min(len(lags)-1, len(lags)*99/100)]) / d)
		res.MaxLag = time.Duration(float64(lags[len(lags)-1]) / d)
	}
	res.Connects, res.Failures = int(connects.Load()), int(failures.Load())
	res.HoldWait = waits.result(d)
	if cfg.sweep {
		// The clock stops where the run ended, so that no entry expires during the sweep.
		frozen.Store(int64(vnow().Sub(base)))
		res.sweepFailures = sweep(ctx, insts)
	}
	if cfg.Strategy == Rotasafe {
		for i, in := range insts {
			res.add(statsOf(in).minus(before[i]))
		}
	}
	res.Calls, res.Throttled = make([]int, bins), make([]int, bins)
	perSec := int(time.Second / cfg.Bin)
	for k := range res.ByStage {
		res.ByStage[k] = make([]int, bins)
	}
	for i := range bins {
		res.Calls[i], res.Throttled[i] = int(rec.calls[i].Load()), int(rec.throttled[i].Load())
		for k := range res.ByStage {
			res.ByStage[k][i] = int(rec.stage[k][i].Load())
		}
		res.TotalCalls += res.Calls[i]
		res.TotalThrottled += res.Throttled[i]
	}
	for i := range bins {
		sum := 0
		for j := i; j < min(bins, i+perSec); j++ {
			sum += res.Calls[j]
		}
		res.PeakPerSecond = max(res.PeakPerSecond, sum)
	}
	return res, nil
}

// rotateSingle plays a single-user rotation's effect on Secrets Manager and the database.
// With pub it announces each step as rotate.WithNotices does, right after the step took
// effect, and ahead of the password change with cfg.NoticeLead as rotate.WithNoticeLead
// does; it marks the change's bounds in waits.
func rotateSingle(ctx context.Context, api *secretsmanager.Client, id, arn string, db *fakeDB, cfg Config,
	dil func(time.Duration) time.Duration, pub notice.Publisher, waits *waitRecorder) error {
	if err := sleep(ctx, dil(cfg.RotateAt)); err != nil {
		return err
	}
	const token = "fleet-rotation-0000000000000000000001"
	cur, err := rotasafe.Fetch(ctx, api, id, "", rotasafe.StageCurrent)
	if err != nil {
		return err
	}
	v1 := value(1)
	if _, err := api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id),
		ClientRequestToken: aws.String(token), SecretString: aws.String(v1),
		VersionStages: []string{rotasafe.StagePending}}); err != nil {
		return err
	}
	ahead := pub != nil && cfg.NoticeLead > 0
	announce := func(kind notice.Kind, lead time.Duration) error {
		if pub == nil {
			return nil
		}
		return pub.Publish(ctx, notice.Notice{SecretARN: arn, VersionID: token, Kind: kind, At: time.Now(), Lead: lead})
	}
	if !ahead {
		if err := announce(notice.PendingStored, 0); err != nil { // createSecret
			return err
		}
		waits.mark()
	} else {
		// The notice's lead is waited on with real timers: stretched like every other wait.
		if err := announce(notice.PendingStored, dil(cfg.NoticeLead).Truncate(time.Millisecond)); err != nil {
			return err
		}
		if err := sleep(ctx, dil(cfg.NoticeLead)); err != nil {
			return err
		}
		waits.mark()
		if err := announce(notice.PasswordChanging, 0); err != nil { // setSecret, before the change
			return err
		}
		if err := sleep(ctx, dil(cfg.NoticeSettle)); err != nil {
			return err
		}
	}
	db.set(v1) // setSecret
	if err := announce(notice.PasswordChanged, 0); err != nil {
		return err
	}
	waits.mark()
	if err := sleep(ctx, dil(cfg.Window)); err != nil {
		return err
	}
	_, err = api.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(id), VersionStage: aws.String(rotasafe.StageCurrent),
		MoveToVersionId: aws.String(token), RemoveFromVersionId: aws.String(cur.ID)})
	if err != nil {
		return err
	}
	if cfg.RemovePending {
		_, err = api.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(id), VersionStage: aws.String(rotasafe.StagePending), RemoveFromVersionId: aws.String(token)})
		if err != nil {
			return err
		}
	}
	return announce(notice.Finished, 0) // finishSecret
}

// rotateAlternating moves AWSCURRENT to new credentials that the database takes alongside
// the old ones, as an alternating-users rotation does.
func rotateAlternating(ctx context.Context, api *secretsmanager.Client, id string, db *fakeDB, at time.Duration) error {
	if err := sleep(ctx, at); err != nil {
		return err
	}
	v1 := value(1)
	db.add(v1)
	_, err := api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(v1)})
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// sweep connects every instance once, 64 at a time, and returns how many connects failed.
func sweep(ctx context.Context, insts []instance) int {
	var failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, in := range insts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if in.connect(ctx) != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

func warm(ctx context.Context, insts []instance) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(insts))
	sem := make(chan struct{}, 64)
	for _, in := range insts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := in.connect(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return errors.Join(func() []error {
		var out []error
		for e := range errs {
			out = append(out, e)
		}
		return out
	}()...)
}

// value is the secret's JSON after n rotations.
func value(n int) string {
	return fmt.Sprintf(`{"engine":"postgres","host":"db.fleet","port":5432,"username":"app","password":"fleet-not-a-secret-%04d","dbname":"app"}`, n)
}

// errAuth is the stand-in database's answer to a password it does not take.
var errAuth = errors.New("fleet: password authentication failed")

// fakeDB accepts the passwords it was given: one after set, one more after each add.
type fakeDB struct{ pws atomic.Pointer[[]string] }

func password(secretJSON string) string {
	s, err := rotasafe.ParseDBSecret([]byte(secretJSON))
	if err != nil {
		panic(err) // value's JSON always parses
	}
	return s.Password
}

func (f *fakeDB) set(secretJSON string) { f.pws.Store(&[]string{password(secretJSON)}) }

func (f *fakeDB) add(secretJSON string) {
	pws := append(slices.Clone(*f.pws.Load()), password(secretJSON))
	f.pws.Store(&pws)
}

func (f *fakeDB) login(pw string) error {
	if !slices.Contains(*f.pws.Load(), pw) {
		return errAuth
	}
	return nil
}

// recorder counts requests per bin of real time since start.
type recorder struct {
	t0        atomic.Int64 // UnixNano of the start; 0 before it: nothing is counted
	bin       time.Duration
	calls     []atomic.Int64
	throttled []atomic.Int64
	stage     [3][]atomic.Int64 // requests naming AWSCURRENT, AWSPENDING, AWSPREVIOUS
}

// byStage counts a request by the staging label it asks for.
func (r *recorder) byStage(i int, body []byte) {
	for k, stage := range stages {
		if bytes.Contains(body, []byte(`"VersionStage":"`+stage+`"`)) {
			r.stage[k][i].Add(1)
			return
		}
	}
}

var stages = [...]string{rotasafe.StageCurrent, rotasafe.StagePending, rotasafe.StagePrevious}

func (r *recorder) start(t time.Time) { r.t0.Store(t.UnixNano()) }

func (r *recorder) index(t time.Time) int {
	t0 := r.t0.Load()
	if t0 == 0 {
		return -1
	}
	i := int(t.UnixNano()-t0) / int(r.bin)
	if i < 0 || i >= len(r.calls) {
		return -1
	}
	return i
}

// countingTransport counts every HTTP request to Secrets Manager when it is sent, and the
// ThrottlingException answers.
type countingTransport struct {
	next http.RoundTripper
	rec  *recorder
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	i := c.rec.index(time.Now())
	if i >= 0 {
		c.rec.calls[i].Add(1)
		if req.Body != nil {
			body, err := io.ReadAll(req.Body)
			req.Body.Close()
			if err != nil {
				return nil, err
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			c.rec.byStage(i, body)
		}
	}
	resp, err := c.next.RoundTrip(req)
	if err == nil && i >= 0 && strings.HasPrefix(resp.Header.Get("X-Amzn-ErrorType"), "ThrottlingException") {
		c.rec.throttled[i].Add(1)
	}
	return resp, err
}

// dilatedBackoff stretches the SDK's retry backoff with the simulation's time.
type dilatedBackoff struct {
	next awsretry.BackoffDelayer
	d    float64
}

func (b dilatedBackoff) BackoffDelay(attempt int, err error) (time.Duration, error) {
	w, err := b.next.BackoffDelay(attempt, err)
	return time.Duration(float64(w) * b.d), err
}

// instance is one simulated application instance.
type instance interface {
	connect(ctx context.Context) error
	close()
}

// instanceStats is what a Rotasafe instance counted; zero for the baseline.
type instanceStats struct {
	calls, notices, holds               uint64
	reads, rejected, fallbacks, rereads rotasafe.StageCounts
}

func statsOf(in instance) instanceStats {
	r, ok := in.(*rotasafeInstance)
	if !ok {
		return instanceStats{}
	}
	cs, ls := r.stats()
	return instanceStats{calls: cs.APICalls, notices: cs.Notices, holds: cs.Holds, reads: cs.Reads, rejected: ls.Rejected, fallbacks: ls.Fallbacks, rereads: ls.Rereads}
}

func (s instanceStats) minus(o instanceStats) instanceStats {
	sub := func(a, b rotasafe.StageCounts) rotasafe.StageCounts {
		return rotasafe.StageCounts{Current: a.Current - b.Current, Pending: a.Pending - b.Pending,
			Previous: a.Previous - b.Previous, Other: a.Other - b.Other}
	}
	return instanceStats{calls: s.calls - o.calls, notices: s.notices - o.notices, holds: s.holds - o.holds, reads: sub(s.reads, o.reads), rejected: sub(s.rejected, o.rejected),
		fallbacks: sub(s.fallbacks, o.fallbacks), rereads: sub(s.rereads, o.rereads)}
}

// add counts one instance's stats of the measured run into r.
func (r *Result) add(s instanceStats) {
	plus := func(a *rotasafe.StageCounts, b rotasafe.StageCounts) {
		a.Current += b.Current
		a.Pending += b.Pending
		a.Previous += b.Previous
		a.Other += b.Other
	}
	plus(&r.Reads, s.reads)
	plus(&r.Rejected, s.rejected)
	plus(&r.Fallbacks, s.fallbacks)
	plus(&r.Rereads, s.rereads)
	if s.rejected.Total() > 0 {
		r.Noticed++
	}
	r.NoticesReceived += int(s.notices)
	r.Holds += int(s.holds)
	r.CallsPerInstance[min(s.calls, maxCallsHist)]++
}
