// Package crashtest is the crash suite: it runs Apps as separate operating
// system processes against an embedded broker in a process of its own, kills
// them with SIGKILL at random times and at named points inside commits,
// restorations and checkpoints, restarts them, and checks the results
// against the processing guarantee. The package holds only tests.
//
// # How it works
//
// One test binary plays every part; TestMain picks the role from
// MILLRACE_CRASHTEST_ROLE. The parent test starts a "broker" child (kfake on
// a loopback port, printing its address) and two "app" children (one
// streams.App each, with its own state directory) that share the four
// partitions of the input topic. Children talk to the parent through stdout
// lines (state changes, local tasks, fault hits, store dumps) and log to
// files in the run directory. Each child runs in its own process group, gets
// SIGKILL if the parent dies (Pdeathsig), and stops cleanly when its stdin
// closes; t.Cleanup kills whatever is left.
//
// The workload breaks if the guarantee breaks: a non-idempotent count per
// key (get, +1, put) in a changelogged store, forwarded as (count, seq),
// where seq is the input's sequence number within its key. Under
// exactly-once every output must have count == seq, and each key's outputs
// must be exactly 1..n_k, once each, in order (read with read_committed).
// Under at-least-once every input must have an output (nothing lost), every
// count must be >= its seq (no state lost), and each key's last output must
// be for its last input; duplicates, count rewinds and the over-count (sum
// over keys of final count - n_k) are measured and reported, not asserted:
// Kafka Streams' at-least-once counts replayed records again when the
// changelog is ahead of the committed offsets. A run with clean restarts only
// must be exact under at-least-once too. After the output, two dumper Apps
// check the stores: one on instance a's state directory (local state and
// checkpoints), one on an empty directory (everything restored from the
// changelogs); each must equal n_k (exactly-once, clean at-least-once) or
// the output's last count (at-least-once).
//
// The scenarios (TestCrash/<name>) cross the guarantees with a cached
// RocksDB store and an in-memory store; in the "static" ones instance a has
// an InstanceID (static membership). While the input is produced, each
// incarnation of an App gets an arm: SIGKILL from the parent after a random
// delay (from the start, so some land while starting or restoring, or from
// RUNNING), or SIGKILL by the App itself at the Nth hit of an
// internal/faultpoint point (MILLRACE_CRASH_AT=point:N, or point:N+delay to
// die shortly after the point, inside the next step), falling back to a
// parent's SIGKILL when the point does not fire soon after RUNNING. Every point that can fire in a scenario is
// covered at least once (the run fails otherwise). A killed App restarts
// after a short random delay with the same state directory and InstanceID;
// the other keeps running. The clean scenario stops Apps with Close instead.
// Every wait has a deadline; an App out of RUNNING for 60 s is a hang, and
// its goroutines (and the broker's) are dumped to the logs.
//
// Each scenario logs its figures: ends per kind and point, records in,
// outputs read, duplicates, rewinds, the at-least-once over-count, recovery
// times (restart to RUNNING, kill to RUNNING), the longest output stall,
// dead group members the janitor removed, members removed while the sync
// hold held their SyncGroup, and the wall time per phase.
//
// # Running
//
//	go test -race ./crashtest                          # default: about 1.5 to 2 minutes on 2 cores
//	go test -race ./crashtest -run 'TestCrash/eos-rocksdb' -seed 42 -v
//	go test ./crashtest -soak -timeout 30m -v          # about 10 minutes: 3 min of chaos per scenario
//	go test ./crashtest -soak -soak.chaos 10m -timeout 2h
//
// The seed (flag -seed or MILLRACE_CRASH_SEED, printed by every run) fixes
// the input and the sequence of arms and delays; a replay repeats them, not
// the operating system's scheduling, so a timing-dependent failure may need
// a few runs. MILLRACE_CRASH_SOAK=1 is the same as -soak. MILLRACE_CRASH_KEEP=1
// keeps the run directories (they are kept anyway when a test fails, and
// their paths logged). MILLRACE_CRASH_CONSUMER and MILLRACE_CRASH_PRODUCER
// ("k=v,k=v") add librdkafka properties to the Apps' clients; an empty value
// drops the suite's own (MILLRACE_CRASH_CONSUMER=fetch.queue.backoff.ms=
// runs with librdkafka's own fetch back-off). Scenarios run two at a time
// (go test's -parallel defaults to GOMAXPROCS).
//
// # Workarounds in the configuration
//
// The Apps run with SessionTimeout 3 s (the default 45 s would hold a killed
// member's partitions that long) and fetch.queue.backoff.ms 0; under
// exactly-once with the runtime's own transaction timeout (10 s).
//
// The broker role runs a janitor for a kfake bug: a group member that dies
// between its JoinGroup and the response is, about half the time, never
// expired, so it keeps its partitions forever or, made leader, blocks the
// group for librdkafka's max.poll.interval.ms. The janitor removes members
// whose connection has been closed for longer than the session timeout, as a
// real broker's session expiry would; MILLRACE_CRASH_NO_JANITOR=1 turns it
// off. TestKfakeKeepsMemberKilledWhileJoining reproduces the bug on its own.
//
// It also runs a sync hold for another: kfake parks every SyncGroup but the
// leader's until the leader's arrives, and when a member with a parked
// SyncGroup is removed (its session expires, the janitor's LeaveGroup, or
// static instance a's next incarnation joins with the same InstanceID after
// a kill right after its SyncGroup), kfake counts it as a member leaving the
// join barrier. Its count of joining members ends one too low, and the next
// rebalance waits for the rebalance timeout (max.poll.interval.ms, 5
// minutes) with both Apps in REBALANCING. Both Apps send assignments after
// a rebalance the previous leader missed (kfake then names each member the
// leader in its JoinGroup response), so either may be parked. The hold keeps
// each SyncGroup kfake would park in a kfake control function until the
// leader's has been handled, then lets kfake answer it; it learns the
// leader by asking kfake (a JoinGroup repeating the held member's last one,
// which kfake answers read-only). kfake never parks a SyncGroup, the client
// sees the same answers at the same points, and nothing is answered or
// timed out in kfake's place, so a hung App still shows.
// MILLRACE_CRASH_NO_SYNC_HOLD=1 turns it off; the run's figures count the
// members removed while held (each a stall without the hold).
// TestKfakeStallsRebalanceAfterRemovingMemberWaitingInSync reproduces the
// bug on its own.
//
// Last, it caps every member's rebalance timeout at 20 s (the Apps ask for
// librdkafka's max.poll.interval.ms, at least 5 minutes) and watches the
// group: kfake's join barrier can wait for a JoinGroup that never comes by
// more than one path (the two above are the ones found), and such a wait
// lasts the largest rebalance timeout. Capped, it ends as kfake's own timer
// ends it, in 20 s, under the hang detector's 60 s; the clients are not
// reconfigured. The watcher logs every change of the group's state,
// generation and members to the broker's log, which a hang's report
// quotes, and the run's figures count the rebalances that lasted 10 s or
// more. MILLRACE_CRASH_NO_REBALANCE_CAP=1 turns the cap off;
// TestRebalanceCapEndsASkewedBarrier shows it end a skewed barrier.
//
// A skewed barrier can also complete early, without a live member that was
// about to rejoin; that member's client was once seen never to join again
// (the group Stable with the other instance for a minute; not
// root-caused). An instance in REBALANCING for 30 s while the group has
// been Stable for 15 s with fewer members than live instances is killed and
// restarted like any crash of the chaos, at most twice a run, and counted
// in the figures; past that the hang detector applies.
//
// # Issues found
//
// known_test.go holds the runtime issues the suite found (a killed instance
// holding read_committed readers for 60 s; a clean close without changelog
// writes dropping the checkpoint), as tests of their fixes that run with the
// rest.
package crashtest
