package streams

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// RestorePrinter shows restoration progress as one live line, such as
//
//	restoring: 3/8 stores, 412 k/1.0 M records, 180 k rec/s
//
// and, when the last store of a round is done,
//
//	restored: 8/8 stores, 1.0 M records in 5.6 s, 180 k rec/s
//
// It is a StateRestoreListener: put it in Config.Hooks. A round of
// restorations is as in RestoreProgress: it begins when a store starts
// restoring while none is, and ends when none is left. Records are counted
// in changelog offsets (as Kafka Streams' restore-remaining-records-total),
// the rate in records written. On a terminal the line is rewritten in place
// (carriage return) at most every RestorePrinterOptions.Interval; on any
// other writer (a file, a pipe, a log) each update is a line of its own,
// at most every 5 seconds. It writes from the restorer's goroutine, so w
// must not block for long; write errors are ignored.
type RestorePrinter struct {
	w        io.Writer
	live     bool
	interval time.Duration
	now      func() time.Time

	mu       sync.Mutex
	stores   map[restoreKey]*printedStore
	started  time.Time
	records  int64
	last     time.Time // last line written
	width    int       // of the last live line
	rateAt   time.Time // the rate is over the records since rateAt
	rateFrom int64
	rate     float64
}

type printedStore struct {
	start, end, position int64
	done                 bool
}

// RestorePrinterOptions configure a RestorePrinter; the zero value takes
// the defaults.
type RestorePrinterOptions struct {
	// Interval is the least time between two updates: default 250 ms on a
	// terminal, 5 s otherwise.
	Interval time.Duration
	// Live forces the terminal behaviour (true) or the line-per-update one
	// (false); nil looks at w: a character device is a terminal.
	Live *bool
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// NewRestorePrinter returns a RestorePrinter writing to w (os.Stderr when
// w is nil).
func NewRestorePrinter(w io.Writer, opts RestorePrinterOptions) *RestorePrinter {
	if w == nil {
		w = os.Stderr
	}
	p := &RestorePrinter{w: w, interval: opts.Interval, now: opts.Now, stores: map[restoreKey]*printedStore{}}
	if opts.Live != nil {
		p.live = *opts.Live
	} else if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.live = true
		}
	}
	if p.interval <= 0 {
		p.interval = 5 * time.Second
		if p.live {
			p.interval = 250 * time.Millisecond
		}
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// OnRestoreStart implements HookRestoreStart.
func (p *RestorePrinter) OnRestoreStart(e RestoreStart) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if !p.activeLocked() {
		// A new round.
		clear(p.stores)
		p.started, p.records, p.rateAt, p.rateFrom, p.rate = now, 0, now, 0, 0
	}
	p.stores[restoreKey{e.Task, e.Store}] = &printedStore{start: e.StartOffset, end: e.EndOffset, position: e.StartOffset}
	p.printLocked(now, false)
}

// OnRestoreBatch implements HookRestoreBatch.
func (p *RestorePrinter) OnRestoreBatch(e RestoreBatch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.stores[restoreKey{e.Task, e.Store}]; s != nil {
		s.position = min(max(s.position, e.BatchEndOffset+1), s.end)
	}
	p.records += int64(e.Records)
	p.printLocked(p.now(), false)
}

// OnRestoreEnd implements HookRestoreEnd.
func (p *RestorePrinter) OnRestoreEnd(e RestoreEnd) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.stores[restoreKey{e.Task, e.Store}]; s != nil {
		s.position, s.done = s.end, true
	}
	p.printLocked(p.now(), !p.activeLocked())
}

// OnRestoreSuspended implements HookRestoreSuspended: the store leaves the
// round.
func (p *RestorePrinter) OnRestoreSuspended(e RestoreSuspended) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := restoreKey{e.Task, e.Store}
	if _, ok := p.stores[k]; !ok {
		return
	}
	delete(p.stores, k)
	p.printLocked(p.now(), !p.activeLocked())
}

func (p *RestorePrinter) activeLocked() bool {
	for _, s := range p.stores {
		if !s.done {
			return true
		}
	}
	return false
}

// printLocked writes the line if it is due, or final.
func (p *RestorePrinter) printLocked(now time.Time, final bool) {
	if !final && !p.last.IsZero() && now.Sub(p.last) < p.interval {
		return
	}
	if el := now.Sub(p.rateAt); el >= time.Second || final {
		// The rate over the last second or more (over the round when final).
		if final {
			p.rateAt, p.rateFrom = p.started, 0
			el = now.Sub(p.started)
		}
		if el > 0 {
			p.rate = float64(p.records-p.rateFrom) / el.Seconds()
		}
		p.rateAt, p.rateFrom = now, p.records
	} else if p.rateFrom == 0 && now.After(p.started) {
		// Less than a second into the round: its average so far.
		p.rate = float64(p.records) / now.Sub(p.started).Seconds()
	}
	p.last = now
	var done, total, offsets, read int64
	for _, s := range p.stores {
		total++
		if s.done {
			done++
		}
		offsets += s.end - s.start
		read += s.position - s.start
	}
	var line string
	if final {
		line = fmt.Sprintf("restored: %d/%d stores, %s records in %s, %s rec/s", done, total, human(float64(read)),
			now.Sub(p.started).Round(100*time.Millisecond), human(p.rate))
	} else {
		line = fmt.Sprintf("restoring: %d/%d stores, %s/%s records, %s rec/s", done, total, human(float64(read)),
			human(float64(offsets)), human(p.rate))
	}
	if !p.live {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := ""
	if n := p.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n) // erase what the last line had beyond this one
	}
	p.width = len(line)
	if final {
		fmt.Fprintf(p.w, "\r%s%s\n", line, pad)
		p.width = 0
		return
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
}

// human writes n with a k, M or G suffix: 412 k, 1.0 M.
func human(n float64) string {
	// Each case starts where the one below would round up to its unit.
	switch {
	case n >= 999.95e6:
		return fmt.Sprintf("%.1f G", n/1e9)
	case n >= 999.5e3:
		return fmt.Sprintf("%.1f M", n/1e6)
	case n >= 9950:
		return fmt.Sprintf("%.0f k", n/1e3)
	case n >= 999.5:
		return fmt.Sprintf("%.1f k", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}

// String describes the round as RestorePrinter's lines do, with the rate
// over the whole round: "restoring: 3/8 stores, 412 k/1.0 M records, 180 k
// rec/s", "restored: 8/8 stores, 1.0 M records in 5.6s, 180 k rec/s", or
// "no restoration" before the first.
func (p RestoreProgress) String() string {
	if p.Stores == 0 {
		return "no restoration"
	}
	rate := 0.0
	if p.Took > 0 {
		rate = float64(p.Records) / p.Took.Seconds()
	}
	if p.Active {
		return fmt.Sprintf("restoring: %d/%d stores, %s/%s records, %s rec/s", p.StoresDone, p.Stores,
			human(float64(p.OffsetsDone)), human(float64(p.Offsets)), human(rate))
	}
	return fmt.Sprintf("restored: %d/%d stores, %s records in %s, %s rec/s", p.StoresDone, p.Stores,
		human(float64(p.OffsetsDone)), p.Took.Round(100*time.Millisecond), human(rate))
}
