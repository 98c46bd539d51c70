// Package processor is Millrace's Processor API: the Processor interface
// users implement, the Context it receives, the Builder that wires sources,
// processors, sinks and stores into a Topology, and the per-task Graph that
// runs it.
//
// Invariants:
//   - Records travel by direct, typed calls. A node holds its children as
//     the interface of their input types, bound by a type assertion when
//     the task's graph is built; a parent whose output types differ from a
//     child's input types is a Build error naming both nodes and both
//     types. Nothing is boxed into an interface per record.
//   - Forward is synchronous and depth-first: every child (and everything
//     below it) has finished with the record before Forward returns.
//     Children run in the order they were added to the builder. ForwardTo
//     reaches one named child; an unknown name is an error wrapping
//     ErrUnknownChild.
//   - Build checks the whole topology and reports every problem at once.
//   - Sub-topologies are the connected components of the graph, where
//     processors that share a store count as connected. They are numbered
//     in the order their first node was added, as Kafka Streams does.
//   - A Supplier is called once per task, so each task owns its processors;
//     a processor is used by one goroutine at a time and needs no locks.
//   - Init runs after the task's stores are restored and before the first
//     Process. When a suspended task resumes, Init runs again on the same
//     instance after Close, as in Kafka Streams.
//   - Record metadata is that of the source record being processed; inside
//     a punctuator it is absent.
//   - A processor's Context is a context.Context, cancelled when its task
//     closes its processors (or is cancelled by the runtime). After that,
//     Forward, ForwardTo and Schedule return an error wrapping
//     ErrTaskClosed, also from processor goroutines that kept the Context:
//     no record reaches an output after the task's last commit.
package processor
