package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Each row's processor (raw loop, App, Goka processor) runs in a child
// process: the bench binary re-executed with childEnv set to the row's
// childSpec. The child's CPU time (getrusage) and peak RSS (VmHWM) are
// then the processor's alone, not the embedded broker's, the loader's or an
// earlier row's. The parent and the child talk over two pipes (the
// child's file descriptors 3 and 4), one line per message, so nothing a
// library prints on stdout or stderr can be taken for a message:
//
//	child -> parent   started <unix ns> <cpu ns>   before the processor is built
//	                  ready <unix ns> <cpu ns>     the clock starts (RUNNING, assignment, ...)
//	                  restoring <progress>         while the App restores its stores, every 200 ms
//	                  info <key> <value>           facts about the run (restored records)
//	                  reply <value>                the answer to a command
//	                  result ok | result error <message>   the last line
//	parent -> child   cpu | end | count | stop     end also stops the CPU profile;
//	                                               count: records the processor has processed
//
// The end of the parent's pipe is a stop too, so a parent that dies takes
// its children with it.

// childEnv carries the JSON childSpec to a child.
const childEnv = "MILLRACE_BENCH_CHILD"

// childSpec is everything a child needs to run a row's processor.
type childSpec struct {
	Row        string
	Kind       kind
	EOS        bool
	Bootstrap  string
	AppID      string
	In, In2    string // In2: the right-hand stream or the table topic
	Out        string
	StateDir   string
	Partitions int
	// Records is how many records a raw-read child reads before it is
	// ready; for restore, how many the store must have restored.
	Records           int
	Buffered          int
	AppConsumerConfig map[string]string
	AppProducerConfig map[string]string
	RawConfig         map[string]string
	CPUProfile        string
	// WrapperProducer runs the App on confluent-kafka-go's producer (a
	// +wrapper row).
	WrapperProducer bool
}

// isChild reports whether this process is a row's child.
func isChild() bool { return os.Getenv(childEnv) != "" }

// processedCounter is a childHandle that counts the records it processed
// (for rows whose output is compacted: windowed counts).
type processedCounter interface {
	processedCount() (int64, error)
}

// childHandle is a processor running inside a child.
type childHandle interface {
	ready() <-chan struct{}
	readyAt() time.Time
	exited() <-chan struct{}
	stop() error
}

// infoer is a childHandle with facts to report once ready.
type infoer interface {
	info() (map[string]string, error)
}

// childMain runs a row's processor and answers the parent; it returns the
// process's exit code. Its last lines report its peak RSS ("info hwm")
// and the result.
func childMain() int {
	toParent, fromParent := os.NewFile(3, "to-parent"), os.NewFile(4, "from-parent")
	w := &lineWriter{w: bufio.NewWriter(toParent)}
	fail := func(err error) int {
		w.printf("result error %s", oneLine(err.Error()))
		return 1
	}
	if toParent == nil || fromParent == nil {
		fmt.Fprintln(os.Stderr, "bench child: started without the parent's pipes")
		return 2
	}
	var spec childSpec
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &spec); err != nil {
		return fail(fmt.Errorf("child spec: %w", err))
	}
	w.printf("started %d %d", time.Now().UnixNano(), int64(processCPU()))
	p, err := startChildProcessor(spec)
	if err != nil {
		return fail(fmt.Errorf("start %s: %w", spec.Row, err))
	}
	cmds := make(chan string)
	go func() {
		defer close(cmds)
		s := bufio.NewScanner(fromParent)
		for s.Scan() {
			cmds <- s.Text()
		}
	}()
	stopWith := func(cause error) int {
		err := p.stop()
		if hwm, ok := peakRSS(); ok {
			w.printf("info hwm %d", hwm)
		}
		if cause != nil {
			return fail(cause)
		}
		if err != nil {
			return fail(fmt.Errorf("%s stopped with an error: %w", spec.Row, err))
		}
		w.printf("result ok")
		return 0
	}
	if r, ok := p.(interface{ restoring() string }); ok {
		go reportRestoring(w, r, p.ready(), p.exited())
	}
	select {
	case <-p.ready():
	case <-p.exited():
		return stopWith(errors.New(errText(p.stop())))
	case c, ok := <-cmds:
		if !ok || c == "stop" {
			return stopWith(nil)
		}
		return stopWith(fmt.Errorf("command %q arrived before the processor was ready", c))
	}
	w.printf("ready %d %d", p.readyAt().UnixNano(), int64(processCPU()))
	if in, ok := p.(infoer); ok {
		facts, err := in.info()
		if err != nil {
			return stopWith(err)
		}
		for k, v := range facts {
			w.printf("info %s %s", k, v)
		}
	}
	stopProfile := startChildProfile(spec.CPUProfile)
	defer stopProfile()
	for {
		select {
		case <-p.exited():
			return stopWith(errors.New("stopped by itself: " + errText(p.stop())))
		case c, ok := <-cmds:
			switch {
			case !ok || c == "stop":
				stopProfile()
				return stopWith(nil)
			case c == "cpu":
				w.printf("reply %d", int64(processCPU()))
			case c == "end":
				stopProfile()
				w.printf("reply %d", int64(processCPU()))
			case c == "count":
				pc, ok := p.(processedCounter)
				if !ok {
					w.printf("reply error %s counts no processed records", spec.Row)
					break
				}
				n, err := pc.processedCount()
				if err != nil {
					w.printf("reply error %s", oneLine(err.Error()))
					break
				}
				w.printf("reply %d", n)
			default:
				w.printf("reply error unknown command %q", c)
			}
		}
	}
}

// reportRestoring sends the restoration's progress to the parent every
// 200 ms until the processor is ready (an empty line once it stops).
func reportRestoring(w *lineWriter, r interface{ restoring() string }, ready, exited <-chan struct{}) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		select {
		case <-ready:
			return
		case <-exited:
			return
		case <-tick.C:
			if s := oneLine(r.restoring()); s != last {
				w.printf("restoring %s", s)
				last = s
			}
		}
	}
}

// peakRSS is this process's peak resident set in bytes: VmHWM, the high
// water mark of the memory map, which exec starts afresh. (getrusage's
// maxrss is not a child's own: Linux carries the forking process's peak
// across exec, so every child would report at least the parent's.)
func peakRSS() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, false
			}
			return kb * 1024, true
		}
	}
	return 0, false
}

func startChildProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench child: cpuprofile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		fmt.Fprintln(os.Stderr, "bench child: cpuprofile:", err)
		return func() {}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
}

func errText(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " | ") }

// lineWriter writes one protocol line at a time.
type lineWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
	l.w.Flush()
}

// stamp is a moment the child reported: its wall clock and its CPU time.
type stamp struct {
	at  time.Time
	cpu time.Duration
}

// childProc is the parent's side of a child. Its CPU time comes from the
// child's getrusage; its peak RSS from the child's VmHWM (see peakRSS).
type childProc struct {
	spec     childSpec
	clock    string // what ready means, for the report
	cmd      *exec.Cmd
	toChild  *os.File
	replies  chan string
	startedC chan struct{}
	readyC   chan struct{}
	done     chan struct{} // closed once the child exited and was reaped
	output   *tailBuffer

	// Written by the reading goroutine before it closes startedC, readyC
	// or done.
	started, readyStamp stamp
	mu                  sync.Mutex
	facts               map[string]string
	restoringNow        string // the last restoring line
	result              string
	waitErr             error

	reqMu    sync.Mutex
	stopOnce sync.Once
	stopErr  error
}

// startChild starts a child for spec.
func startChild(spec childSpec, clock string) (*childProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating the bench binary to run %s: %w", spec.Row, err)
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	upR, upW, err := os.Pipe() // child -> parent
	if err != nil {
		return nil, err
	}
	downR, downW, err := os.Pipe() // parent -> child
	if err != nil {
		upR.Close()
		upW.Close()
		return nil, err
	}
	c := &childProc{spec: spec, clock: clock, toChild: downW, replies: make(chan string, 1),
		startedC: make(chan struct{}), readyC: make(chan struct{}), done: make(chan struct{}),
		output: &tailBuffer{max: 64 << 10}, facts: map[string]string{}}
	c.cmd = exec.Command(exe)
	c.cmd.Env = append(os.Environ(), childEnv+"="+string(js))
	c.cmd.Stdout, c.cmd.Stderr = c.output, c.output
	c.cmd.ExtraFiles = []*os.File{upW, downR}
	if err := c.cmd.Start(); err != nil {
		upR.Close()
		upW.Close()
		downR.Close()
		downW.Close()
		return nil, fmt.Errorf("starting the child for %s: %w", spec.Row, err)
	}
	upW.Close()
	downR.Close()
	go c.read(upR)
	return c, nil
}

// read dispatches the child's lines, then reaps it.
func (c *childProc) read(r *os.File) {
	defer close(c.done)
	var startedOnce, readyOnce sync.Once
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		word, rest, _ := strings.Cut(s.Text(), " ")
		switch word {
		case "started", "ready":
			st, ok := parseStamp(rest)
			if !ok {
				continue
			}
			if word == "started" {
				startedOnce.Do(func() { c.started = st; close(c.startedC) })
			} else {
				readyOnce.Do(func() { c.readyStamp = st; close(c.readyC) })
			}
		case "restoring":
			c.mu.Lock()
			c.restoringNow = rest
			c.mu.Unlock()
		case "info":
			k, v, _ := strings.Cut(rest, " ")
			c.mu.Lock()
			c.facts[k] = v
			c.mu.Unlock()
		case "reply":
			select {
			case c.replies <- rest:
			default:
			}
		case "result":
			c.mu.Lock()
			c.result = rest
			c.mu.Unlock()
		}
	}
	r.Close()
	err := c.cmd.Wait()
	c.mu.Lock()
	c.waitErr = err
	c.mu.Unlock()
}

func parseStamp(s string) (stamp, bool) {
	a, b, ok := strings.Cut(s, " ")
	wall, err1 := strconv.ParseInt(a, 10, 64)
	cpu, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return stamp{}, false
	}
	return stamp{at: time.Unix(0, wall), cpu: time.Duration(cpu)}, true
}

// restoring is the child App's restoration progress, live while it starts
// (empty when it restores nothing).
func (c *childProc) restoring() string {
	select {
	case <-c.readyC:
		return ""
	default:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restoringNow
}

func (c *childProc) ready() <-chan struct{}  { return c.readyC }
func (c *childProc) readyAt() time.Time      { return c.readyStamp.at }
func (c *childProc) clockStart() string      { return c.clock }
func (c *childProc) exited() <-chan struct{} { return c.done }

// fact returns what the child reported under key.
func (c *childProc) fact(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.facts[key]
	return v, ok
}

// request sends a command and returns the child's reply.
func (c *childProc) request(cmd string) (string, error) {
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	select {
	case <-c.replies: // a reply that came after its request timed out
	default:
	}
	if _, err := io.WriteString(c.toChild, cmd+"\n"); err != nil {
		return "", fmt.Errorf("%s child: sending %s: %w", c.spec.Row, cmd, err)
	}
	select {
	case r := <-c.replies:
		if rest, ok := strings.CutPrefix(r, "error "); ok {
			return "", fmt.Errorf("%s child: %s", c.spec.Row, rest)
		}
		return r, nil
	case <-c.done:
		return "", fmt.Errorf("%s child exited before answering %s", c.spec.Row, cmd)
	case <-time.After(10 * time.Second):
		return "", fmt.Errorf("%s child did not answer %s within 10 s", c.spec.Row, cmd)
	}
}

func (c *childProc) requestInt(cmd string) (int64, error) {
	r, err := c.request(cmd)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(r, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s child answered %s with %q", c.spec.Row, cmd, r)
	}
	return n, nil
}

// cpu returns the child's CPU time so far; with end set it also stops the
// child's CPU profile.
func (c *childProc) cpu(end bool) (time.Duration, error) {
	cmd := "cpu"
	if end {
		cmd = "end"
	}
	n, err := c.requestInt(cmd)
	return time.Duration(n), err
}

// stop asks the child to stop its processor and waits for it to exit,
// killing it after a minute. It returns the child's error, if any.
func (c *childProc) stop() error {
	c.stopOnce.Do(func() {
		_, _ = io.WriteString(c.toChild, "stop\n")
		c.toChild.Close()
		select {
		case <-c.done:
		case <-time.After(time.Minute):
			_ = c.cmd.Process.Kill()
			<-c.done
			c.stopErr = fmt.Errorf("%s child did not stop within a minute; killed", c.spec.Row)
			return
		}
		c.mu.Lock()
		result, waitErr := c.result, c.waitErr
		c.mu.Unlock()
		switch {
		case result == "ok" && waitErr == nil:
		case strings.HasPrefix(result, "error "):
			c.stopErr = errors.New(strings.TrimPrefix(result, "error "))
		default:
			c.stopErr = fmt.Errorf("%s child exited (%v) without a result; its output ended with: %s",
				c.spec.Row, waitErr, c.output.tail(2000))
		}
	})
	return c.stopErr
}

// maxRSS returns the child's peak resident set in bytes (its VmHWM when
// it stopped); valid after stop, 0 if the child could not tell.
func (c *childProc) maxRSS() int64 {
	v, ok := c.fact("hwm")
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) tail(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.b
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return strings.TrimSpace(string(s))
}
