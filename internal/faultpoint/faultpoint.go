// Package faultpoint names the places in the runtime where a crash test may
// stop the process: between the steps of a commit, inside restoration, while
// a checkpoint is written. A production run never sets a hook, and then Hit
// costs one atomic load; it is only called at commit, restore and checkpoint
// granularity, never per record.
//
// The crash suite (package crashtest) sets a hook in the App processes it
// starts, which kills the process with SIGKILL at a chosen point, so a kill
// lands exactly between two steps that a random kill would rarely split.
package faultpoint

import "sync/atomic"

// Points the runtime reports, in the order a commit passes them.
const (
	// CommitTasksFlushed: every task flushed its caches and stores (the
	// changelog writes are sent, maybe not acknowledged) and reported its
	// offsets; nothing is committed yet.
	CommitTasksFlushed = "commit.tasks-flushed"
	// CommitOutputsAcked: at-least-once only: every output and changelog
	// write is acknowledged; the input offsets are not committed yet.
	CommitOutputsAcked = "commit.outputs-acked"
	// CommitOffsetsSent: exactly-once only: the offsets are added to the
	// transaction, which is not committed yet.
	CommitOffsetsSent = "commit.offsets-sent"
	// CommitDone: the commit (offsets, or the transaction) is complete and
	// the tasks have not resumed yet.
	CommitDone = "commit.done"
	// CheckpointWritten: a task wrote its checkpoint file.
	CheckpointWritten = "checkpoint.written"
	// RestoreBatch: restoration wrote one batch of changelog records into a
	// store.
	RestoreBatch = "restore.batch"
)

var hook atomic.Pointer[func(point string)]

// Set installs fn as the hook called at every point; nil removes it. Only
// tests call it.
func Set(fn func(point string)) {
	if fn == nil {
		hook.Store(nil)
		return
	}
	hook.Store(&fn)
}

// Hit reports that the runtime reached point.
func Hit(point string) {
	if h := hook.Load(); h != nil {
		(*h)(point)
	}
}
