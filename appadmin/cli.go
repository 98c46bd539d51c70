package appadmin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/millrace/millrace/processor"
)

// Tool is the command-line tool: cmd/millrace runs it without a topology;
// a program embeds it with its own topology so that describe prints that
// topology and reset knows its topics (see the package doc).
type Tool struct {
	// Name is the program's name in usage texts; empty means "millrace".
	Name string
	// Topology, when set, builds the application's topology.
	Topology func() (*processor.Topology, error)
	// ApplicationID is the default of --application-id; empty means the
	// flag is required.
	ApplicationID string
	// Stdout and Stderr receive the output and the errors; nil means
	// os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
}

// Exit statuses of Tool.Run.
const (
	ExitOK    = 0 // success, and a reset with nothing to do
	ExitError = 1 // the command failed; the error is on Stderr
	ExitUsage = 2 // wrong command line; the problem is on Stderr
)

// Main runs the tool on args (os.Args[1:]) with os.Stdout and os.Stderr
// and returns the exit status: os.Exit(appadmin.Main(ctx, os.Args[1:],
// NewTopology)). topology may be nil.
func Main(ctx context.Context, args []string, topology func() (*processor.Topology, error)) int {
	t := &Tool{Topology: topology}
	if len(os.Args) > 0 {
		t.Name = filepath.Base(os.Args[0])
	}
	return t.Run(ctx, args)
}

// IsCommand reports whether arg is one of the tool's commands (reset,
// describe, help): a program that embeds the tool hands it its arguments
// when their first is one.
func IsCommand(arg string) bool {
	switch arg {
	case "reset", "describe", "help":
		return true
	}
	return false
}

// Run runs one command, args[0], with its flags, and returns the exit
// status (ExitOK, ExitError or ExitUsage). It never calls os.Exit.
func (t *Tool) Run(ctx context.Context, args []string) int {
	if t == nil {
		t = &Tool{}
	}
	if len(args) == 0 {
		fmt.Fprint(t.stderr(), t.usage())
		return ExitUsage
	}
	switch args[0] {
	case "reset":
		return t.reset(ctx, args[1:])
	case "describe":
		return t.describe(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && (args[1] == "reset" || args[1] == "describe") {
			return t.Run(ctx, []string{args[1], "-h"})
		}
		fmt.Fprint(t.stdout(), t.usage())
		return ExitOK
	}
	fmt.Fprintf(t.stderr(), "%s: unknown command %q; the commands are reset and describe (run %q)\n",
		t.name(), args[0], t.name()+" help")
	return ExitUsage
}

func (t *Tool) name() string {
	if t.Name == "" {
		return "millrace"
	}
	return t.Name
}

func (t *Tool) stdout() io.Writer {
	if t.Stdout == nil {
		return os.Stdout
	}
	return t.Stdout
}

func (t *Tool) stderr() io.Writer {
	if t.Stderr == nil {
		return os.Stderr
	}
	return t.Stderr
}

func (t *Tool) usage() string {
	topo := ""
	if t.Topology != nil {
		topo = " and its topology"
	}
	return fmt.Sprintf(`Usage: %[1]s <command> [flags]

Administers a Millrace application (a Kafka Streams application too) on its
Kafka cluster.

Commands:
  reset     reset an application so that its next run processes its input again
  describe  print an application's consumer group, offsets and internal topics%[2]s
  help      print this text, or a command's: %[1]s help reset

Run "%[1]s <command> -h" for a command's flags. Exit status: 0 on success
(a reset with nothing to do included), 1 when the command failed, 2 for a
wrong command line.
`, t.name(), topo)
}

// listFlag collects comma-separated values; it may be repeated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	vals := splitList(s)
	if len(vals) == 0 {
		return errors.New("empty list")
	}
	*l = append(*l, vals...)
	return nil
}

// flags is a command's flag set, with its usage text and its own errors.
type flags struct {
	*flag.FlagSet
	about string
}

func (t *Tool) newFlags(cmd, about string) *flags {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flags{FlagSet: fs, about: about}
}

// help renders the usage text with every flag, in --name form.
func (f *flags) help() string {
	var b strings.Builder
	b.WriteString(f.about)
	b.WriteString("\nFlags:\n")
	f.VisitAll(func(fl *flag.Flag) {
		name, usage := flag.UnquoteUsage(fl)
		arg := ""
		if name != "" {
			arg = " " + strings.ToUpper(name)
		}
		fmt.Fprintf(&b, "  --%s%s\n    \t%s", fl.Name, arg, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" {
			fmt.Fprintf(&b, " (default %s)", fl.DefValue)
		}
		b.WriteString("\n")
	})
	return b.String()
}

// parse parses args; done is true when the command should return code.
func (t *Tool) parse(f *flags, args []string) (code int, done bool) {
	err := f.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(t.stdout(), f.help())
		return ExitOK, true
	case err != nil:
		fmt.Fprintf(t.stderr(), "%s %s: %v\nRun %q for the flags.\n", t.name(), f.Name(), err, t.name()+" "+f.Name()+" -h")
		return ExitUsage, true
	case f.NArg() > 0:
		fmt.Fprintf(t.stderr(), "%s %s: unexpected argument %q (flags start with --)\nRun %q for the flags.\n",
			t.name(), f.Name(), f.Arg(0), t.name()+" "+f.Name()+" -h")
		return ExitUsage, true
	}
	return 0, false
}

func (t *Tool) usageError(cmd, msg string) int {
	fmt.Fprintf(t.stderr(), "%s %s: %s\nRun %q for the flags.\n", t.name(), cmd, msg, t.name()+" "+cmd+" -h")
	return ExitUsage
}

// fail reports err; the package's own prefix is dropped, the command's
// name says it.
func (t *Tool) fail(cmd string, err error) int {
	fmt.Fprintf(t.stderr(), "%s %s: %s\n", t.name(), cmd, strings.TrimPrefix(err.Error(), "appadmin: "))
	return ExitError
}

// common registers the flags every command has.
func (t *Tool) common(f *flags) (appID, bootstrap *string, timeout *time.Duration) {
	appID = f.String("application-id", t.ApplicationID, "the application's id (streams.Config.ApplicationID): its consumer group\nand the prefix of its internal topics")
	bootstrap = new(string)
	f.StringVar(bootstrap, "bootstrap-servers", "", "the Kafka cluster: a comma-separated `host:port` list")
	f.StringVar(bootstrap, "bootstrap-server", "", "the same as --bootstrap-servers (the name Kafka's tools use)")
	timeout = f.Duration("timeout", DefaultTimeout, "how long to wait for the cluster, per request")
	return appID, bootstrap, timeout
}

func (t *Tool) buildTopology() (*processor.Topology, error) {
	if t.Topology == nil {
		return nil, nil
	}
	topo, err := t.Topology()
	if err != nil {
		return nil, fmt.Errorf("build the topology: %w", err)
	}
	if topo == nil {
		return nil, errors.New("build the topology: the topology function returned none")
	}
	return topo, nil
}

const resetAbout = `Usage: %[1]s reset --application-id ID --bootstrap-servers HOST:PORT [flags]

Resets an application so that its next run processes its input again, as
Kafka Streams' kafka-streams-application-reset does:

  * it moves the consumer group's committed offsets of every partition of
    the input topics to their start (or to --to-latest, --to-offset,
    --to-datetime, --by-duration, --shift-by);
  * it deletes the committed offsets of the application's internal topics,
    then the topics themselves: <application-id>-<store>-changelog,
    <application-id>-<name>-repartition, the foreign-key join topics
    (-subscription-registration-topic, -subscription-response-topic) and
    <application-id>-instance-metadata. The App creates them again, empty,
    when it next starts;
  * with --state-dir DIR it deletes DIR/<application-id>, the local state
    (stores, checkpoints) of the instance on this machine.

Input topics are --input-topics when given, else %[2]sthe topics the
group has committed offsets for, internal topics excepted; the output says
which. Output topics are never touched: downstream consumers see the
results again.

Stop every instance first. The reset refuses while the group has members
(--force removes them: use it for stopped static members that the broker
still lists) and while a running instance holds the state directory.
Everything is checked before anything changes. Run it with --dry-run first.
`

func (t *Tool) reset(ctx context.Context, args []string) int {
	from := ""
	if t.Topology != nil {
		from = "the topology's input topics, else "
	}
	f := t.newFlags("reset", fmt.Sprintf(resetAbout, t.name(), from))
	appID, bootstrap, timeout := t.common(f)
	var inputs, internals listFlag
	f.Var(&inputs, "input-topics", "the input `topics`, comma-separated, whose offsets move (default: inferred)")
	f.Var(&internals, "internal-topics", "delete only these internal `topics` (each must be one the dry run lists)")
	f.Bool("to-earliest", false, "move the input offsets to the start of each partition (the default)")
	f.Bool("to-latest", false, "move the input offsets to the end of each partition: skip what is there")
	toOffset := f.Int64("to-offset", 0, "move the input offsets to this `offset`, within each partition's range")
	toDatetime := f.String("to-datetime", "", "move the input offsets to the first record at or after this `time`:\nRFC 3339 (2024-05-01T12:00:00Z) or local (2024-05-01T12:00:00.000)")
	byDuration := f.String("by-duration", "", "move the input offsets to the first record at or after now minus this `duration`:\n90m, 1h30m, or ISO 8601 (PT1H30M, P1D)")
	shiftBy := f.Int64("shift-by", 0, "move the input offsets by `n` from the committed ones (negative: back)")
	dryRun := f.Bool("dry-run", false, "print what the reset would do and change nothing")
	force := f.Bool("force", false, "remove the group's members instead of refusing (stop the instances first)")
	stateDir := f.String("state-dir", "", "also delete the local state `dir`/<application-id> (streams.Config.StateDir;\nthe App's default is "+filepath.Join(os.TempDir(), "millrace")+")")
	if code, done := t.parse(f, args); done {
		return code
	}
	var set []string
	f.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "to-earliest", "to-latest", "to-offset", "to-datetime", "by-duration", "shift-by":
			set = append(set, "--"+fl.Name)
		}
	})
	if len(set) > 1 {
		return t.usageError("reset", "give one reset position at most, not "+strings.Join(set, " and "))
	}
	if *appID == "" {
		return t.usageError("reset", "--application-id is required")
	}
	if *bootstrap == "" {
		return t.usageError("reset", "--bootstrap-servers is required (e.g. localhost:9092)")
	}
	opts := ResetOptions{ApplicationID: *appID, BootstrapServers: *bootstrap, InputTopics: inputs, InternalTopics: internals,
		DryRun: *dryRun, Force: *force, StateDir: *stateDir, Timeout: *timeout}
	if len(set) == 1 {
		switch set[0] {
		case "--to-latest":
			opts.Position = Latest()
		case "--to-offset":
			opts.Position = AtOffset(*toOffset)
		case "--shift-by":
			opts.Position = ShiftBy(*shiftBy)
		case "--to-datetime":
			at, err := ParseDateTime(*toDatetime)
			if err != nil {
				return t.usageError("reset", "--to-datetime: "+err.Error())
			}
			opts.Position = AtTime(at)
		case "--by-duration":
			d, err := ParseDuration(*byDuration)
			if err != nil {
				return t.usageError("reset", "--by-duration: "+err.Error())
			}
			opts.Position = ByDuration(d)
		}
	}
	topo, err := t.buildTopology()
	if err != nil {
		return t.fail("reset", err)
	}
	opts.Topology = topo
	r, err := Reset(ctx, opts)
	switch {
	case errors.Is(err, ErrNothingToDo):
		fmt.Fprintln(t.stdout(), strings.TrimPrefix(err.Error(), "appadmin: "))
		return ExitOK
	case err != nil:
		return t.fail("reset", err)
	}
	fmt.Fprint(t.stdout(), r)
	return ExitOK
}

const describeAbout = `Usage: %[1]s describe --application-id ID --bootstrap-servers HOST:PORT [flags]

Prints an application as its Kafka cluster sees it: the consumer group's
state and members (client ids, hosts, assigned partitions), the committed
offsets and lag of every input partition, and the internal topics with
their partition counts and cleanup policies. It changes nothing.
%[2]s`

const describeTopologyAbout = `
Built into a program with its topology, describe prints the topology and
the names of its input and internal topics; without --bootstrap-servers
that is all it prints (no cluster needed).
`

func (t *Tool) describe(ctx context.Context, args []string) int {
	extra := ""
	if t.Topology != nil {
		extra = describeTopologyAbout
	}
	f := t.newFlags("describe", fmt.Sprintf(describeAbout, t.name(), extra))
	appID, bootstrap, timeout := t.common(f)
	if code, done := t.parse(f, args); done {
		return code
	}
	topo, err := t.buildTopology()
	if err != nil {
		return t.fail("describe", err)
	}
	if topo != nil {
		if *appID != "" {
			if err := checkApplicationID(*appID); err != nil {
				return t.usageError("describe", "--application-id: "+err.Error())
			}
		}
		fmt.Fprint(t.stdout(), DescribeTopology(topo, *appID))
		if *bootstrap == "" {
			return ExitOK
		}
		fmt.Fprintln(t.stdout())
	}
	if *appID == "" {
		return t.usageError("describe", "--application-id is required")
	}
	if *bootstrap == "" {
		return t.usageError("describe", "--bootstrap-servers is required (e.g. localhost:9092)")
	}
	d, err := DescribeCluster(ctx, DescribeOptions{ApplicationID: *appID, BootstrapServers: *bootstrap, Topology: topo, Timeout: *timeout})
	if err != nil {
		return t.fail("describe", err)
	}
	fmt.Fprint(t.stdout(), d)
	return ExitOK
}
