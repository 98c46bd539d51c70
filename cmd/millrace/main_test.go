package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/millrace/millrace/kafkatest"
)

// TestMain runs main instead of the tests when the test binary is started
// by runMain, so the tests see the real exit status and output.
func TestMain(m *testing.M) {
	if os.Getenv("MILLRACE_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// runMain runs the command with args and returns its exit status and
// outputs.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MILLRACE_TEST_RUN_MAIN=1")
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errs.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errs.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

func TestTheCommandPrintsUsageAndExitsWithTheToolsStatus(t *testing.T) {
	if code, out, _ := runMain(t, "reset", "-h"); code != 0 || !strings.Contains(out, "Usage: ") || !strings.Contains(out, "--dry-run") {
		t.Errorf("reset -h: exit %d, stdout:\n%s", code, out)
	}
	if code, _, errs := runMain(t); code != 2 || !strings.Contains(errs, "Commands:") {
		t.Errorf("no command: exit %d, stderr:\n%s", code, errs)
	}
}

func TestTheCommandReportsAnUnknownApplicationOnTheEmbeddedBroker(t *testing.T) {
	cl, err := kafkatest.Start(kafkatest.Config{Topics: map[string]int32{"in": 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	code, _, errs := runMain(t, "describe", "--application-id", "nobody", "--bootstrap-servers", cl.Bootstrap(), "--timeout", "5s")
	if code != 1 || !strings.Contains(errs, "unknown application") || !strings.Contains(errs, cl.Bootstrap()) {
		t.Errorf("describe of an unknown application: exit %d, stderr %q", code, errs)
	}
}

// The tool needs no cgo: it must not link librdkafka or RocksDB.
func TestTheCommandIsPureGo(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "confluent-kafka-go") || strings.Contains(dep, "grocksdb") {
			t.Errorf("cmd/millrace depends on %s (cgo)", dep)
		}
	}
}
