package appadmin_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/appadmin"
	"github.com/millrace/millrace/dsl"
	"github.com/millrace/millrace/processor"
	"github.com/millrace/millrace/record"
)

// run runs the tool and returns its exit status and outputs.
func run(t *testing.T, tool appadmin.Tool, args ...string) (int, string, string) {
	t.Helper()
	var out, errs bytes.Buffer
	tool.Stdout, tool.Stderr = &out, &errs
	code := tool.Run(context.Background(), args)
	return code, out.String(), errs.String()
}

func TestToolWithoutACommandPrintsUsageAndExitsWithUsageStatus(t *testing.T) {
	code, out, errs := run(t, appadmin.Tool{})
	if code != appadmin.ExitUsage || out != "" || !strings.Contains(errs, "Usage: millrace <command>") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = run(t, appadmin.Tool{}, "frobnicate")
	if code != appadmin.ExitUsage || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", code, errs)
	}
}

func TestHelpDocumentsEveryFlagOnStdout(t *testing.T) {
	code, out, _ := run(t, appadmin.Tool{}, "reset", "-h")
	if code != appadmin.ExitOK {
		t.Fatalf("reset -h: exit %d", code)
	}
	for _, want := range []string{"--application-id", "--bootstrap-servers", "--input-topics", "--internal-topics",
		"--to-earliest", "--to-latest", "--to-offset", "--to-datetime", "--by-duration", "--shift-by",
		"--dry-run", "--force", "--state-dir", "--timeout", "-changelog", "-repartition"} {
		if !strings.Contains(out, want) {
			t.Errorf("reset -h does not mention %s", want)
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"help", "describe"}, {"describe", "--help"}} {
		if code, out, _ := run(t, appadmin.Tool{}, args...); code != appadmin.ExitOK || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d, stdout %q", args, code, out)
		}
	}
}

func TestResetCommandLineProblemsAreUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"reset", "--bootstrap-servers", "h:1"}, "--application-id is required"},
		{[]string{"reset", "--application-id", "a"}, "--bootstrap-servers is required"},
		{[]string{"reset", "--application-id", "a", "--bootstrap-servers", "h:1", "--to-latest", "--to-offset", "3"}, "--to-latest and --to-offset"},
		{[]string{"reset", "--application-id", "a", "--bootstrap-servers", "h:1", "--to-datetime", "tomorrow"}, `datetime "tomorrow"`},
		{[]string{"reset", "--application-id", "a", "--bootstrap-servers", "h:1", "--by-duration", "-1h"}, "negative"},
		{[]string{"reset", "--application-id", "a", "--bootstrap-servers", "h:1", "extra"}, `unexpected argument "extra"`},
		{[]string{"reset", "--no-such-flag"}, "no-such-flag"},
		{[]string{"describe", "--application-id", "a"}, "--bootstrap-servers is required"},
	} {
		code, out, errs := run(t, appadmin.Tool{}, tc.args...)
		if code != appadmin.ExitUsage || out != "" || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errs, tc.want)
		}
	}
}

func TestResetOptionsProblemsAreReportedAtOnce(t *testing.T) {
	_, err := appadmin.Reset(context.Background(), appadmin.ResetOptions{ApplicationID: "bad id",
		InputTopics: []string{"t"}, InternalTopics: []string{"t"}})
	if !errors.Is(err, appadmin.ErrInvalidOptions) {
		t.Fatalf("err = %v, want ErrInvalidOptions", err)
	}
	for _, want := range []string{`application id "bad id"`, "no bootstrap servers", "topic t is given both"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// silentBroker accepts connections and never answers, as a broker behind
// a black-holing firewall would look.
func silentBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestAnUnreachableClusterFailsWithinTheTimeoutNamingTheAddress(t *testing.T) {
	closed := func() string { // a port nothing listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	for name, addr := range map[string]string{"refused": closed, "silent": silentBroker(t)} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := appadmin.Reset(context.Background(), appadmin.ResetOptions{ApplicationID: "app",
				BootstrapServers: addr, Timeout: time.Second})
			elapsed := time.Since(start)
			if !errors.Is(err, appadmin.ErrUnreachable) || !strings.Contains(err.Error(), addr) {
				t.Errorf("err = %v, want ErrUnreachable naming %s", err, addr)
			}
			if elapsed > 10*time.Second {
				t.Errorf("took %v with a 1s timeout", elapsed)
			}
			code, _, errs := run(t, appadmin.Tool{}, "describe", "--application-id", "app", "--bootstrap-servers", addr, "--timeout", "1s")
			if code != appadmin.ExitError || !strings.Contains(errs, addr) || !strings.Contains(errs, "unreachable") {
				t.Errorf("describe: exit %d, stderr %q", code, errs)
			}
		})
	}
}

func countTopology() (*processor.Topology, error) {
	b := dsl.NewBuilder()
	lines := dsl.FromTopics(b, []string{"in"}, record.String(), record.String())
	counts := dsl.Count(dsl.GroupBy(lines, func(_, v string) string { return v }), dsl.As("counts"), dsl.InMemory(), dsl.WithoutCaching())
	dsl.To(dsl.ToStream(counts), "out")
	return b.Build()
}

func TestEmbeddedDescribePrintsTheTopologyAndItsTopicsWithoutACluster(t *testing.T) {
	tool := appadmin.Tool{Name: "wordcount", Topology: countTopology}
	code, out, errs := run(t, tool, "describe", "--application-id", "app")
	if code != appadmin.ExitOK {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{"Sub-topology: 0", "Sub-topology: 1", "Source: counts-repartition-source (topics: [app-counts-repartition])",
		"Input topics (rewound by reset): in\n", "Internal topics (created by the App, deleted by reset): app-counts-changelog, app-counts-repartition\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, tool, "describe")
	if code != appadmin.ExitOK || !strings.Contains(out, "<application-id>-counts-repartition") {
		t.Errorf("describe without an application id: exit %d:\n%s", code, out)
	}
	code, out, _ = run(t, tool, "help")
	if code != appadmin.ExitOK || !strings.Contains(out, "Usage: wordcount <command>") || !strings.Contains(out, "and its topology") {
		t.Errorf("help of the embedded tool: exit %d:\n%s", code, out)
	}
	failing := appadmin.Tool{Topology: func() (*processor.Topology, error) { return nil, errors.New("no serde for Order") }}
	if code, _, errs := run(t, failing, "describe"); code != appadmin.ExitError || !strings.Contains(errs, "build the topology: no serde for Order") {
		t.Errorf("a topology that fails to build: exit %d, stderr %q", code, errs)
	}
}

func TestANilToolRunsWithTheDefaults(t *testing.T) {
	var tool *appadmin.Tool
	if code := tool.Run(context.Background(), []string{"frobnicate"}); code != appadmin.ExitUsage {
		t.Errorf("exit %d, want %d", code, appadmin.ExitUsage)
	}
}
