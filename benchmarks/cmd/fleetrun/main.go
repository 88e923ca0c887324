// Command fleetrun runs one fleet simulation (package fleet) and prints what it measured on
// one line: a single scenario at a time, where the report (cmd/report) runs them all.
//
//	go run ./cmd/fleetrun -n 10000 -scenario rotation-notices -lead 2s -loss 0.1
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/rotasafe/rotasafe/benchmarks/fleet"
)

func main() {
	var cfg fleet.Config
	var scenario, strategy string
	flag.IntVar(&cfg.Instances, "n", 1000, "instances")
	flag.StringVar(&scenario, "scenario", string(fleet.RotationNotices), "rotation, expiry or rotation-notices")
	flag.StringVar(&strategy, "strategy", string(fleet.Rotasafe), "rotasafe or baseline")
	flag.DurationVar(&cfg.NoticeLead, "lead", 2*time.Second, "the rotator's notice lead (modeled); 0 announces after each step")
	flag.DurationVar(&cfg.NoticeHold, "hold", 0, "the caches' hold bound (modeled); 0: cache.DefaultNoticeHold")
	flag.Float64Var(&cfg.NoticeLoss, "loss", 0, "share of notices lost")
	flag.Float64Var(&cfg.Dilation, "dilation", 0, "slow-down factor; 0: the fleet's default")
	flag.Float64Var(&cfg.QuotaPerInstance, "quota", 1, "GetSecretValue calls per second per instance")
	flag.Parse()
	cfg.Scenario, cfg.Strategy = fleet.Scenario(scenario), fleet.Strategy(strategy)
	res, err := fleet.Run(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	c := res.Config
	fmt.Printf("n=%d scenario=%s lead=%v loss=%.2f d=%.1f | rejected %d (instances %d) | requests %d, %.3f/instance, reads %+v | peak %d/s of %.0f (%.2fx) | throttled %d | failed %d of %d connects | holds %d, hold wait n=%d p50 %v p99 %v max %v | notices %d | lag p99 %v max %v | real %v\n",
		c.Instances, c.Scenario, c.NoticeLead, c.NoticeLoss, c.Dilation, res.Rejected.Total(), res.Noticed,
		res.TotalCalls, float64(res.TotalCalls)/float64(c.Instances), res.Reads,
		res.PeakPerSecond, res.Limit, float64(res.PeakPerSecond)/res.Limit, res.TotalThrottled, res.Failures, res.Connects,
		res.Holds, res.HoldWait.N, res.HoldWait.P50.Round(time.Millisecond), res.HoldWait.P99.Round(time.Millisecond), res.HoldWait.Max.Round(time.Millisecond),
		res.NoticesReceived, res.Lag.Round(100*time.Microsecond), res.MaxLag.Round(100*time.Microsecond), res.Elapsed.Round(100*time.Millisecond))
}
