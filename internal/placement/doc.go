// Package placement predicts where a consumer group's range assignor puts
// Millrace's tasks, and where they go when one member leaves or joins, so
// an instance can keep standby copies of the tasks it is about to inherit
// without a custom assignor (librdkafka cannot run one).
//
// # The assignment it predicts
//
// Every input topic of a subtopology has the same partition count P and
// every member subscribes to the same topics (Millrace refuses anything
// else at start), so a task is a partition number p. librdkafka's classic
// range assignor (run by the group leader) and the broker's range assignor
// under KIP-848 (Apache Kafka 3.9 and later, and the embedded broker kfake)
// then agree: the N members are sorted by their key, member i of the order
// receives the contiguous block of partitions starting at i*(P/N)+min(i, P%N),
// and the first P%N members receive one partition more than the others.
// The same block of every co-partitioned topic goes to the same member, so
// tasks stay whole. Group.Assignment computes it; Group.Owner gives the
// member of one partition.
//
// The key of a member is its group.instance.id when every member has one
// (static membership), else its member id (librdkafka compares instance
// ids only when both members of a pair have one, so a mix of static and
// dynamic members has no total order and no predictable assignment; Keys
// reports it). Classic member ids are the client.id (dynamic) or instance
// id (static) followed by a broker-made UUID, so distinct fixed-width
// client.id values keep the order of dynamic members across restarts; under
// KIP-848 dynamic member ids are random UUIDs, so only instance ids give an
// order that survives a restart. Keys compare byte-wise, as librdkafka and
// kfake do; Java's String order differs only for keys that mix characters
// above U+FFFF with characters from U+E000 to U+FFFF.
//
// # Departures, joins and standbys
//
// Range is not sticky: when a member leaves, the blocks of the members
// around it grow, so partitions move from the departed member and also
// between survivors; when one joins, blocks shrink and partitions move to
// the newcomer and between members already there. Every move goes to a
// member adjacent to the old owner in the order. Successor(p) is the owner
// of p once owner(p) has left. It is also where p goes when any other single
// member leaves and p changes owner: among N-1 members the owner's position
// of p is either the same as among N or one less, whichever member left,
// so a moved p always lands on the member that inherits it when its owner
// leaves. The set of owners p can have after one departure, owner(p)
// excluded, is therefore exactly {Successor(p)} (the tests check every
// departure for N from 2 to 8 and P from 1 to 64). Joins are different:
// a partition moved between members already in the group lands on
// Successor(p) or on the other neighbour of owner(p). Neighbours(p) are the
// members adjacent to owner(p) in the order (at either end of the order,
// the two nearest); they hold Successor(p).
//
// Standbys(self, k) are the partitions self keeps a standby copy of:
//   - k = 0: none;
//   - k = 1: those whose Successor is self: after any single departure every
//     partition that moved, from the departed member or between survivors,
//     lands where its standby is;
//   - k = 2: those with self among their Neighbours: as k = 1, and after any
//     single join every partition moved between the members already in the
//     group lands on a standby too (the newcomer's share is warmed by
//     join-when-warm, OwnedAfterJoin); two departures at once may still
//     land a partition cold;
//   - k = All: every partition self does not own (goka's hot standby).
//
// OwnedAfterJoin gives what a member not yet in the group will own once it
// joins, so it can warm those tasks before it subscribes.
//
// # Invariants
//
// A Group's members are distinct and sorted by key; every function is pure
// (same inputs, same answer; nothing is shared or mutated), and a wrong
// input (a duplicate or empty key, a partition outside 0..P-1, a self that is
// not a member) is an error naming it, never a panic. A prediction only
// decides where standbys live: a wrong one costs restore time, never
// correctness, so callers compare it with the assignment they receive and
// log a mismatch.
//
// Membership and Keys read a group description (from the Admin API's
// DescribeConsumerGroups) given as plain values, so this package stays free
// of cgo; the streams package turns confluent-kafka-go's description into
// them.
package placement
