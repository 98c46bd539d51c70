package crashtest

// Child processes, as the parent sees them.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is one running child process: this test binary in a role.
type child struct {
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	logPath string
	started time.Time

	mu       sync.Mutex
	stdinErr error
	closed   bool

	exited  chan struct{} // closed after Wait returned
	status  syscall.WaitStatus
	waitErr error
	exitAt  time.Time
}

// line is one protocol line of a child.
type line struct {
	c    *child
	text string // without linePrefix
	at   time.Time
}

// startChild starts this binary in role with env added, stderr to logPath
// (appended), and every protocol line sent to lines (which must be drained).
// The child runs in its own process group and gets SIGKILL if this process
// dies; it also stops by itself when its stdin closes.
func startChild(name, role string, env []string, logPath string, lines chan<- line) (*child, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "==== %s: %s started at %s, env %q\n", name, role, time.Now().Format(time.RFC3339Nano), env)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), envRole+"="+role), env...)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, logPath: logPath, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c.started = time.Now()
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if text, ok := strings.CutPrefix(sc.Text(), linePrefix); ok {
				lines <- line{c: c, text: text, at: time.Now()}
			}
		}
		err := cmd.Wait() // after stdout is drained, as exec requires
		c.exitAt = time.Now()
		c.waitErr = err
		if cmd.ProcessState != nil {
			c.status, _ = cmd.ProcessState.Sys().(syscall.WaitStatus)
		}
		close(c.exited)
	}()
	return c, nil
}

// send writes one command line to the child's stdin.
func (c *child) send(cmd string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil && c.stdinErr == nil {
		c.stdinErr = err
	}
}

// stop asks the child to stop cleanly: its stdin closes.
func (c *child) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		_ = c.stdin.Close()
	}
}

// kill sends SIGKILL to the child's process group.
func (c *child) kill() {
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
}

func (c *child) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// killed reports whether the child died of SIGKILL.
func (c *child) killed() bool {
	return c.status.Signaled() && c.status.Signal() == syscall.SIGKILL
}

// exitDescription says how the child ended.
func (c *child) exitDescription() string {
	switch {
	case c.alive():
		return "still running"
	case c.status.Signaled():
		return "killed by " + c.status.Signal().String()
	case c.status.Exited():
		return fmt.Sprintf("exit status %d", c.status.ExitStatus())
	}
	return fmt.Sprintf("ended: %v", c.waitErr)
}

// waitExit waits up to timeout for the child to end.
func (c *child) waitExit(timeout time.Duration) error {
	select {
	case <-c.exited:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s did not exit within %v", c.name, timeout)
	}
}

// logTail returns the last n lines of a log file.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(log %s: %v)", path, err)
	}
	ls := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return string(bytes.Join(ls, []byte("\n")))
}

// errNotFound is returned by scanLogs when no log mentions the pattern.
var errNotFound = errors.New("not found")

// scanLogs returns the lines (with file names) of the files that hold
// pattern, at most max of them.
func scanLogs(paths []string, pattern string, max int) ([]string, error) {
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for i, l := range bytes.Split(b, []byte("\n")) {
			if bytes.Contains(l, []byte(pattern)) {
				out = append(out, fmt.Sprintf("%s:%d: %s", p, i+1, l))
				if len(out) >= max {
					return out, nil
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, errNotFound
	}
	return out, nil
}
