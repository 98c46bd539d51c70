// Package statedir manages Millrace's on-disk state directory, laid out as
// Kafka Streams' StateDirectory lays it out:
//
//	<state-dir>/<application-id>/                    Dir
//	<state-dir>/<application-id>/<task-id>/          TaskDir, e.g. 0_3
//	<state-dir>/<application-id>/<task-id>/.lock     the task's lock file
//	<state-dir>/<application-id>/<task-id>/.checkpoint
//	<state-dir>/<application-id>/<task-id>/rocksdb/<store>
//
// A task directory is owned by whoever holds an exclusive flock(2) on its
// .lock file. flock locks belong to the open file description, so a second
// LockTask of the same task fails with ErrLocked whether the holder is
// another process or another TaskDir in this one; a crashed process's locks
// are released by the kernel.
//
// The checkpoint file records, per changelog partition, the offset up to
// which the task's stores hold the changelog. It uses Kafka's text format
// (".checkpoint": a version line "0", a count line, then one
// "<topic> <partition> <offset>" line per entry, sorted by topic then
// partition), so its content is deterministic and readable by hand.
//
// Invariants:
//   - A Dir comes from Open; a zero or nil Dir refuses every call with an
//     error (it never works relative to the working directory).
//   - Application and task ids are single path elements; task ids are
//     "<subtopology>_<partition>" in canonical decimal form, so each task
//     has exactly one directory.
//   - Everything a TaskDir writes or deletes (checkpoint, stores) is done
//     while its lock is held; after Unlock those methods fail with
//     ErrNotLocked, because another owner may have the directory by then.
//   - WriteCheckpoint is atomic and durable: readers see the old file or
//     the new one, never a mix, and a returned nil means the new file
//     survives a crash (tmp file fsynced, renamed, directory fsynced).
//     DeleteCheckpoint is durable too, since exactly-once restarts rely on
//     the checkpoint's absence to wipe stores.
//   - A missing checkpoint reads as an empty map; a malformed one is an
//     error wrapping ErrCorruptCheckpoint, never a partial map.
//   - The cleaner deletes only directories whose name is a task id, that
//     are not assigned, whose lock it can take and whose modification time
//     is older than the delay; it deletes them while holding their lock,
//     and renames them away first, so a concurrent LockTask never ends up
//     owning a directory that is being deleted. Unlock refreshes the task
//     directory's modification time, so the delay counts from the last use.
//
// The package is Unix-only (it uses flock).
package statedir
