// Command keycount counts page views per page with a Millrace processor: a
// key-value store holds the counts, a stream-time punctuator emits them every
// 10 s of event time, and a wall-clock punctuator logs progress.
//
// It runs the topology on Millrace's test driver with a virtual clock and a
// generated, reproducible stream of page views (some out of order), and
// prints what the topology emits.
//
//	go run ./examples/keycount
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/millrace/millrace/record"
	"github.com/millrace/millrace/testdriver"
)

func main() {
	views := flag.Int("views", 60, "page views to generate")
	seed := flag.Uint64("seed", 1, "random seed of the generated views")
	flag.Parse()
	if err := run(*views, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "keycount:", err)
		os.Exit(1)
	}
}

func run(views int, seed uint64) error {
	topo, err := NewTopology(10*time.Second, 5*time.Second)
	if err != nil {
		return err
	}
	fmt.Print(topo.Describe())
	logCfg := zap.NewDevelopmentConfig()
	logCfg.Level = zap.NewAtomicLevelAt(zap.InfoLevel)
	logCfg.DisableCaller, logCfg.DisableStacktrace = true, true
	logger, err := logCfg.Build()
	if err != nil {
		return err
	}
	defer logger.Sync()
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	d, err := testdriver.New(topo, testdriver.Config{ApplicationID: "keycount", StartTime: start, Logger: logger})
	if err != nil {
		return err
	}
	defer d.Close()
	in := testdriver.CreateInputTopic(d, ViewsTopic, record.String(), record.String())
	out := testdriver.CreateOutputTopic(d, CountsTopic, record.String(), record.Int64())

	for _, v := range GenerateViews(views, seed, start.UnixMilli()) {
		if err := in.Pipe(v.Page, v.User, v.At); err != nil {
			return err
		}
		// One view per second of wall-clock time, so the logger ticks.
		if err := d.AdvanceWallClock(time.Second); err != nil {
			return err
		}
		for !out.IsEmpty() {
			r, err := out.ReadRecord()
			if err != nil {
				return err
			}
			fmt.Printf("%s  %-10s %3d views\n", time.UnixMilli(r.Timestamp()).UTC().Format(time.TimeOnly), r.Key(), r.Value())
		}
	}
	return nil
}

// View is one generated page view.
type View struct {
	Page, User string
	At         int64 // event time, ms
}

// GenerateViews returns n views about one second of event time apart, every
// seventh arriving up to 4 s late, from a seeded generator.
func GenerateViews(n int, seed uint64, start int64) []View {
	pages := []string{"/home", "/pricing", "/docs", "/blog"}
	users := []string{"ada", "grace", "linus", "barbara", "ken"}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]View, n)
	for i := range out {
		at := start + int64(i)*1000
		if i%7 == 6 {
			at -= int64(rng.IntN(4000))
		}
		out[i] = View{Page: pages[rng.IntN(len(pages))], User: users[rng.IntN(len(users))], At: at}
	}
	return out
}
