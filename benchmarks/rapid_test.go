package benchmarks

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/scram"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// Rapid rotations: the settings of issue 13's rapid-rotation goal.
const (
	rapidEvery   = 250 * time.Millisecond // one rotation begins this often
	rapidFor     = 5 * time.Second        // for this long
	rapidWindow  = 100 * time.Millisecond // from the password change to AWSCURRENT's move
	rapidWorkers = 8                      // goroutines querying, each query on a new login
)

// BenchmarkRapidRotations runs a query load through sqlconn.NewPostgres with no idle
// connections kept (every query logs in), first for rapidFor with no rotation, then for
// rapidFor with a single-user rotation beginning every rapidEvery in AWS's order: the new
// version stored under AWSPENDING, the password changed on the database, and rapidWindow
// later AWSCURRENT moved to it (AWSPENDING stays on it, as AWS's rotation templates leave
// it). One iteration is both phases. It reports the queries that failed, the longest query
// with rotations against the p99 of the same load without them, and the GetSecretValue
// calls the client's cache made per rotation (by label).
func BenchmarkRapidRotations(b *testing.B) {
	e := newPGEnv(b, "bench/rapid")
	ctx := context.Background()
	discard := slog.New(slog.DiscardHandler)
	c := cache.New(e.client, cache.WithLogger(discard))
	b.Cleanup(func() { c.Close() })
	conn := sqlconn.NewPostgres(c, e.id, sqlconn.WithParams(noTLS), sqlconn.WithLogger(discard))
	db := sql.OpenDB(conn)
	b.Cleanup(func() { db.Close() })
	db.SetMaxIdleConns(0) // every query logs in anew
	if err := db.PingContext(ctx); err != nil {
		b.Fatal(err)
	}

	var base, rot loadResult
	var rotations int
	var reads rotasafe.StageCounts
	for b.Loop() {
		base.merge(runQueries(db, rapidFor, nil))
		before := c.Stats().Reads
		n := 0
		rot.merge(runQueries(db, rapidFor, func(stop <-chan struct{}) error {
			var err error
			n, err = e.rotateRapidly(ctx, stop)
			return err
		}))
		rotations += n
		after := c.Stats().Reads
		reads.Current += after.Current - before.Current
		reads.Pending += after.Pending - before.Pending
		reads.Previous += after.Previous - before.Previous
	}
	if rot.rotErr != nil {
		b.Fatal(rot.rotErr)
	}
	if rotations == 0 {
		b.Fatal("no rotation ran")
	}
	p99 := quantile(base.lat, 0.99)
	longest := quantile(rot.lat, 1)
	b.ReportMetric(float64(rotations)/float64(b.N), "rotations")
	b.ReportMetric(float64(len(rot.lat))/float64(b.N), "queries")
	b.ReportMetric(float64(rot.errs), "errors")
	b.ReportMetric(float64(base.errs), "base-errors")
	b.ReportMetric(ms(p99), "base-p99-ms")
	b.ReportMetric(ms(quantile(rot.lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(longest), "max-ms")
	b.ReportMetric(float64(longest)/float64(p99), "max-over-base-p99")
	b.ReportMetric(float64(reads.Total())/float64(rotations), "gsv/rotation")
	b.ReportMetric(float64(reads.Pending)/float64(rotations), "pending-gsv/rotation")
	b.ReportMetric(float64(reads.Current)/float64(rotations), "current-gsv/rotation")
	b.ReportMetric(float64(reads.Previous)/float64(rotations), "previous-gsv/rotation")
	if rot.firstErr != nil {
		b.Logf("first query error with rotations: %v", rot.firstErr)
	}
}

// loadResult is what a query load saw.
type loadResult struct {
	lat      []time.Duration // every query's time, failed ones included
	errs     int
	firstErr error
	rotErr   error
}

func (l *loadResult) merge(o loadResult) {
	l.lat = append(l.lat, o.lat...)
	l.errs += o.errs
	if l.firstErr == nil {
		l.firstErr = o.firstErr
	}
	if l.rotErr == nil {
		l.rotErr = o.rotErr
	}
}

// runQueries runs SELECT 1 on rapidWorkers goroutines for d, while during (when not nil)
// runs until its stop channel closes, then waits for both.
func runQueries(db *sql.DB, d time.Duration, during func(stop <-chan struct{}) error) loadResult {
	stop := make(chan struct{})
	var mu sync.Mutex
	var res loadResult
	var wg sync.WaitGroup
	for range rapidWorkers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				t0 := time.Now()
				var one int
				err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
				took := time.Since(t0)
				cancel()
				mu.Lock()
				res.lat = append(res.lat, took)
				if err != nil {
					res.errs++
					if res.firstErr == nil {
						res.firstErr = err
					}
				}
				mu.Unlock()
			}
		})
	}
	if during != nil {
		wg.Go(func() {
			if err := during(stop); err != nil {
				mu.Lock()
				res.rotErr = err
				mu.Unlock()
			}
		})
	}
	time.Sleep(d)
	close(stop)
	wg.Wait()
	return res
}

// rotateRapidly begins a rotation every rapidEvery until stop closes, each one after the
// previous has ended, and returns how many it completed.
func (e *pgEnv) rotateRapidly(ctx context.Context, stop <-chan struct{}) (int, error) {
	t := time.NewTicker(rapidEvery)
	defer t.Stop()
	n := 0
	for {
		if err := e.rotateAWSOrder(ctx); err != nil {
			return n, fmt.Errorf("rotation %d: %w", n+1, err)
		}
		n++
		select {
		case <-stop:
			return n, nil
		case <-t.C:
		}
	}
}

// rotateAWSOrder is one single-user rotation as Secrets Manager and its rotation templates
// run it: createSecret stores the new version under AWSPENDING, setSecret changes the
// password, and finishSecret, rapidWindow later, moves AWSCURRENT to the new version.
func (e *pgEnv) rotateAWSOrder(ctx context.Context) error {
	s := e.secret
	s.Password = rand.Text()
	js, err := s.MarshalSecret()
	if err != nil {
		return err
	}
	token := rand.Text() + rand.Text() // 52 characters: a ClientRequestToken has 32 to 64
	if _, err := e.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(e.id),
		ClientRequestToken: aws.String(token), SecretString: aws.String(string(js)),
		VersionStages: []string{rotasafe.StagePending}}); err != nil {
		return fmt.Errorf("createSecret: %w", err)
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	verifier, err := scram.Verifier(s.Password, salt, 4096)
	if err != nil {
		return err
	}
	if err := e.pg.Exec(ctx, "ALTER ROLE "+pgx.Identifier{s.Username}.Sanitize()+" PASSWORD '"+verifier+"'"); err != nil {
		return errors.New("setSecret: ALTER ROLE failed") // the statement holds the verifier: not repeated
	}
	time.Sleep(rapidWindow)
	if err := rotasafe.Promote(ctx, e.client, e.id, token); err != nil {
		return fmt.Errorf("finishSecret: %w", err)
	}
	return nil
}
