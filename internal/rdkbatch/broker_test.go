package rdkbatch

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/kafkatest"
)

// The benchmarks and the allocation test run the embedded broker in a
// child process (this test binary, re-run with brokerEnv set), so the
// allocations and CPU time they measure are the client's alone.
const brokerEnv = "RDKBATCH_CHILD_BROKER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(brokerEnv); spec != "" {
		os.Exit(runChildBroker(spec))
	}
	os.Exit(m.Run())
}

// runChildBroker starts a cluster with the topics in spec ("a:4,b:4"),
// prints its bootstrap address and serves until its stdin closes.
func runChildBroker(spec string) int {
	topics := map[string]int32{}
	for _, t := range strings.Split(spec, ",") {
		name, n, ok := strings.Cut(t, ":")
		parts, err := strconv.Atoi(n)
		if !ok || err != nil {
			fmt.Fprintf(os.Stderr, "bad topic spec %q\n", t)
			return 2
		}
		topics[name] = int32(parts)
	}
	cl, err := kafkatest.Start(kafkatest.Config{Topics: topics})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cl.Close()
	fmt.Println(cl.Bootstrap())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// childBroker is a broker running in a child process.
type childBroker struct {
	bootstrap string
	cmd       *exec.Cmd
}

// startChildBroker runs the broker, stopped when the test ends.
func startChildBroker(tb testing.TB, topics map[string]int32) *childBroker {
	tb.Helper()
	var spec []string
	for t, n := range topics {
		spec = append(spec, fmt.Sprintf("%s:%d", t, n))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), brokerEnv+"="+strings.Join(spec, ","))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case addr := <-line:
		if addr == "" {
			tb.Fatal("the child broker printed no address")
		}
		return &childBroker{bootstrap: addr, cmd: cmd}
	case <-time.After(30 * time.Second):
		tb.Fatal("the child broker did not start within 30 s")
	}
	return nil
}

// cpu returns the CPU time (user + system) the child has used so far.
func (b *childBroker) cpu() time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at ")".
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ is 100 on Linux
}
