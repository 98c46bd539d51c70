// Package appadmin administers a Millrace application on its Kafka
// cluster: it resets an application so that its next run processes its
// input again, as Kafka Streams' application reset tool
// (kafka-streams-application-reset) does, and describes an application's
// consumer group, offsets, internal topics and topology. cmd/millrace is
// the command; a program can embed the same commands with its own
// topology (Tool, Main).
//
//	go run ./cmd/millrace reset --application-id wordcount --bootstrap-servers localhost:9092 --dry-run
//	go run ./cmd/millrace reset --application-id wordcount --bootstrap-servers localhost:9092 --state-dir /var/lib/millrace
//	go run ./cmd/millrace describe --application-id wordcount --bootstrap-servers localhost:9092
//
// It talks to Kafka through franz-go's pure-Go client (kgo and kadm): no
// cgo, no librdkafka, and a bounded wait for an unreachable cluster.
//
// # Reset
//
// Reset (the reset command) does, in this order:
//
//  1. It refuses while the application's consumer group has members
//     (ErrGroupNotEmpty, listing each member's id, client id and host),
//     unless Force (--force), which removes them: dynamic members by member
//     id, static ones by instance id. A stopped static member stays in the
//     group until its session times out, which is what --force is for; a
//     running instance rejoins, so stop every instance first.
//  2. It moves the group's committed offsets of every partition of the
//     input topics to Position: Earliest (the default), Latest, AtOffset,
//     AtTime, ByDuration or ShiftBy, each brought within the partition's
//     [start, end] range. The input topics are InputTopics (--input-topics)
//     when given, else the topology's input topics when a Topology is set,
//     else the topics the group has committed offsets for, internal topics
//     excepted; the report says which (ResetReport.InputTopicsFrom).
//  3. It deletes the group's committed offsets of the internal topics, then
//     the internal topics themselves, and waits until the cluster no longer
//     lists them. Internal topics are found by name (IsInternalTopic lists
//     every shape the runtime creates) and, with a Topology, as declared by
//     it; InternalTopics (--internal-topics) restricts the deletion to a
//     subset of those. The App creates them again, empty, at its next start.
//  4. With StateDir (--state-dir DIR) it deletes DIR/<application-id>, the
//     local state of the instance on this machine, holding the directory's
//     application lock: a directory locked by a running instance is
//     ErrStateDirLocked. Each machine that ran an instance has its own.
//
// Invariants:
//   - Everything is read and checked before anything changes: a missing
//     input topic, members in the group, a locked state directory or an
//     unknown internal topic is an error and nothing has changed. DryRun
//     (--dry-run) stops there and reports what a reset would do.
//   - Only topics named <application-id>-<internal shape>, or declared
//     internal by the given topology, are ever deleted; input topics given
//     are never taken for internal ones; output topics are never touched.
//   - Without StateDir the local state is left alone, and stores restored
//     from an older run would keep their contents: delete every instance's
//     state directory (or pass --state-dir on each machine) before the
//     restart, as Kafka Streams' KafkaStreams#cleanUp does.
//   - Running Reset again after a failure part-way is safe: it finds what
//     is left to do. With nothing left it returns ErrNothingToDo (the
//     command then says so and exits 0).
//   - An application the cluster knows nothing of (no group, no committed
//     offsets, no internal topics, no local state) is ErrUnknownGroup,
//     which usually means a mistyped --application-id.
//
// Deleting the state directory also deletes its process-id file: the
// restarted instance takes a new transactional id under exactly-once, so
// a transaction a crashed instance left open is not fenced by it but
// aborted by the broker after the transaction timeout.
//
// # Describe
//
// DescribeCluster (the describe command) prints the consumer group's state
// and members (member and client ids, hosts, assigned partitions), the
// committed offset, end offset and lag of every input partition (and of
// every other partition the group committed, internal ones marked), and
// the internal topics with their partition counts and cleanup policies.
// DescribeTopology prints a topology's description (Kafka Streams'
// layout) with its input and internal topic names, with no cluster.
//
// # Embedding the tool in your program
//
// Built into the program that runs the application, the commands know its
// topology: describe prints it, and reset rewinds exactly its input topics
// and deletes the internal topics it declares, those a Processor API
// topology names by hand included:
//
//	func main() {
//		if len(os.Args) > 1 && appadmin.IsCommand(os.Args[1]) {
//			os.Exit(appadmin.Main(context.Background(), os.Args[1:], NewTopology))
//		}
//		// ... run the App
//	}
//
// Then "myapp describe" prints the topology (no cluster needed), and
// "myapp describe --application-id ID --bootstrap-servers HOST:PORT" the
// cluster's view too. Tool gives the same with a default application id
// and other writers; examples/wordcount/admin.go wires it so.
//
// Errors wrap one of ErrUnreachable (no broker answered within the
// timeout; names the addresses), ErrUnknownGroup, ErrGroupNotEmpty,
// ErrStateDirLocked, ErrNothingToDo and ErrInvalidOptions, and name what
// is at fault. The package logs nothing; its reports are its output.
package appadmin
