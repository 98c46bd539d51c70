package prometheus

import prom "github.com/prometheus/client_golang/prometheus"

// descs are the families read from App.Metrics at scrape time. Their names
// and help texts are the table in docs/metrics.md.
type descs struct {
	appState, lag, restoringStores, restoreSkipped, globalDropped, productionDropped, deliveryDeadLetters *prom.Desc
	placementMismatches                                                                                   *prom.Desc
	purges, purgeFailures, cacheMax, cacheUsed, hookPanics                                                *prom.Desc
	memCapacity, memUsed, memPinned, memWriteBuffers, memWriteBufferLimit, memStores                      *prom.Desc

	process, processLatency, processLatencyMax, commits, enforced *prom.Desc
	lateness, latenessMax, late, dropped, deadLetters             *prom.Desc
	opened, resumed                                               *prom.Desc
	buffered, bufferedBytes, blocked                              *prom.Desc
	standbyTasks, standbyLag, standbyApplied, standbyCheckpoints  *prom.Desc

	nodeProcess, e2e, e2eMin, e2eMax                               *prom.Desc
	recordsConsumed, bytesConsumed, recordsProduced, bytesProduced *prom.Desc

	cacheHits, cacheMisses, cacheEvictions, cacheHitRatio, cacheSize, cacheEntries *prom.Desc
	restored, restoreRemaining, expired                                            *prom.Desc

	rocksSizeAllMemTables, rocksCurSizeAllMemTables, rocksImmutableMemTables *prom.Desc
	rocksBlockCacheCapacity, rocksBlockCacheUsage, rocksBlockCachePinned     *prom.Desc
	rocksNumKeys, rocksTableReaders, rocksTotalSST, rocksLiveSST             *prom.Desc
	rocksPendingCompaction, rocksCompactionPending, rocksRunningCompactions  *prom.Desc
	rocksRunningFlushes                                                      *prom.Desc
}

func newDescs() descs {
	desc := func(name, help string, labels ...string) *prom.Desc {
		return prom.NewDesc(ns+"_"+name, help, append([]string{"application_id"}, labels...), nil)
	}
	task := func(name, help string, labels ...string) *prom.Desc {
		return desc(name, help, append([]string{"task"}, labels...)...)
	}
	st := func(name, help string) *prom.Desc { return task(name, help, "store") }
	rocks := func(name, prop, help string) *prom.Desc {
		return st("rocksdb_"+name, help+" (RocksDB property rocksdb."+prop+", summed over a window or session store's segments).")
	}
	return descs{
		appState: desc("app_state", "1 for the App's current state, 0 for the others (Kafka Streams: state).", "state"),
		lag: desc("consumer_lag_records", "Records of an input partition on the broker not yet handed to its task (consumer records-lag).",
			"topic", "partition"),
		restoringStores: desc("restoring_stores", "Stores being restored from their changelogs now (Kafka Streams: active-restoring-tasks counts tasks)."),
		restoreSkipped: desc("restore_skipped_records_total",
			"Source-topic records skipped while restoring a table's store from its source topic, by reason.", "store", "reason"),
		globalDropped: desc("global_dropped_records_total", "Records of global stores' topics skipped, by reason.", "reason"),
		productionDropped: desc("production_dropped_records_total",
			"Records the producer could not deliver, dropped as the production handler said."),
		placementMismatches: desc("standby_placement_mismatches_total",
			"Times this instance's assignment differed from the range prediction its standbys are placed by (StandbyReplicas 1 or 2); costs restore time only."),
		deliveryDeadLetters: desc("delivery_dead_letters_total",
			"Dead letters the producer wrote for records whose delivery failed after their task had moved on (at-least-once)."),
		purges: desc("internal_topic_purges_total",
			"Partitions of internal topics whose records below the committed offset were deleted (one per partition and purge)."),
		purgeFailures: desc("internal_topic_purge_failures_total",
			"Partitions of internal topics whose purge failed (retried at the next purge; not fatal)."),
		cacheMax:   desc("cache_max_bytes", "The record cache's budget (Config.CacheMaxBytes; Kafka Streams: statestore.cache.max.bytes)."),
		cacheUsed:  desc("cache_used_bytes", "Bytes the active tasks' store caches hold."),
		hookPanics: desc("hook_panics_total", "Panics recovered from hooks."),
		memCapacity: desc("rocksdb_memory_capacity_bytes",
			"The RocksDB stores' shared memory budget (Config.StoreMemoryBytes): the capacity of the one block cache they share."),
		memUsed: desc("rocksdb_memory_used_bytes",
			"Bytes the shared block cache holds: data, index and filter blocks and the write buffers charged to it (RocksDB block-cache-usage of the shared cache)."),
		memPinned:       desc("rocksdb_memory_pinned_bytes", "Bytes of the shared block cache that cannot be evicted now (RocksDB block-cache-pinned-usage of the shared cache)."),
		memWriteBuffers: desc("rocksdb_memory_write_buffer_bytes", "Bytes of every store's memtables, charged to the shared budget."),
		memWriteBufferLimit: desc("rocksdb_memory_write_buffer_limit_bytes",
			"Memtable bytes past which RocksDB flushes one (the write-buffer manager's limit: half the budget by default)."),
		memStores: desc("rocksdb_memory_stores", "Open RocksDB instances (stores and segments) on the shared budget."),

		process: task("task_process_total", "Records a task processed (Kafka Streams: process-total, task level)."),
		processLatency: task("task_process_latency_seconds",
			"Time to process a record: sum and count over records, timed per chunk (Kafka Streams: process-latency-avg)."),
		processLatencyMax: task("task_process_latency_max_seconds",
			"Slowest chunk's average time per record over the last 30 to 60 s; the slowest record at recording level DEBUG (Kafka Streams: process-latency-max)."),
		commits:  task("task_commit_total", "Commits of a task (Kafka Streams: commit-total, task level)."),
		enforced: task("task_enforced_processing_total", "Records processed while an input partition was empty past max task idle (Kafka Streams: enforced-processing-total)."),
		lateness: task("task_record_lateness_seconds",
			"How far behind stream time each record was when taken, 0 for a record at or ahead of it: sum and count (Kafka Streams: record-lateness-avg)."),
		latenessMax: task("task_record_lateness_max_seconds", "Largest record lateness over the last 30 to 60 s (Kafka Streams: record-lateness-max)."),
		late:        task("task_late_records_total", "Records older than stream time when taken."),
		dropped: task("task_dropped_records_total",
			"Records dropped, by reason: skipped by the handlers (deserialization-error, invalid-timestamp, processing-error) or reported by processors (Kafka Streams: dropped-records-total).",
			"reason"),
		deadLetters: task("task_dead_letters_total",
			"Dead letters a task wrote to the dead-letter topic (Config.DeadLetterQueueTopic, Kafka Streams: errors.dead.letter.queue.topic.name) or to a handler's own."),
		opened: task("task_opened_total",
			"Times this instance opened a task: created it, its stores opened and restored from their checkpoint or changelog (Kafka Streams: task-created-total, thread level)."),
		resumed: task("task_resumed_total",
			"Times this instance resumed a task it kept suspended across a rebalance: no store reopened, nothing restored but what another owner wrote meanwhile."),
		buffered:      task("task_buffered_records", "Records waiting in the task's partition queues (Kafka Streams: active-buffer-count)."),
		bufferedBytes: task("task_buffered_bytes", "Bytes of the records waiting in the task's partition queues (Kafka Streams: input-buffer-bytes-total)."),
		standbyTasks:  desc("standby_tasks", "Standby tasks the instance keeps now (Config.StandbyReplicas; Kafka Streams: standby tasks of the thread)."),
		standbyLag: task("standby_lag_records",
			"Changelog offsets a standby task has yet to apply, summed over its changelog partitions: end offsets less its positions."),
		standbyApplied: task("standby_applied_records_total",
			"Changelog records a standby task wrote into its stores (Kafka Streams: update-total of a standby task)."),
		standbyCheckpoints: task("standby_checkpoints_total", "Checkpoints a standby task wrote (stores flushed, then their positions)."),
		blocked: task("task_blocked_seconds",
			"How long a task has been inside one processor call without reaching a commit it was asked for (0 when it is not)."),

		nodeProcess: task("node_process_total", "Records a source node processed (Kafka Streams: process-total, node level).", "node"),
		e2e: task("node_record_e2e_latency_seconds",
			"Wall-clock time when a record's chunk was done minus the record's timestamp, at source nodes (and sink nodes at recording level DEBUG): sum and count (Kafka Streams: record-e2e-latency-avg).",
			"node"),
		e2eMin: task("node_record_e2e_latency_min_seconds", "Smallest end-to-end latency over the last 30 to 60 s (Kafka Streams: record-e2e-latency-min).", "node"),
		e2eMax: task("node_record_e2e_latency_max_seconds", "Largest end-to-end latency over the last 30 to 60 s (Kafka Streams: record-e2e-latency-max).", "node"),
		recordsConsumed: task("topic_records_consumed_total",
			"Records a task was handed from a topic, skipped ones included (Kafka Streams: records-consumed-total).", "node", "topic"),
		bytesConsumed: task("topic_bytes_consumed_total",
			"Bytes (keys, values, headers) a task was handed from a topic (Kafka Streams: bytes-consumed-total).", "node", "topic"),
		recordsProduced: task("topic_records_produced_total",
			"Records a sink node handed to the producer, at recording level DEBUG (Kafka Streams: records-produced-total).", "node", "topic"),
		bytesProduced: task("topic_bytes_produced_total",
			"Bytes (keys, values, headers) a sink node handed to the producer, at recording level DEBUG (Kafka Streams: bytes-produced-total).", "node", "topic"),

		cacheHits:      st("store_cache_hits_total", "Reads a store's cache answered."),
		cacheMisses:    st("store_cache_misses_total", "Reads a store's cache sent to the store under it."),
		cacheEvictions: st("store_cache_evictions_total", "Entries a store's cache evicted to keep the budget."),
		cacheHitRatio:  st("store_cache_hit_ratio", "Hits over reads of a store's cache since the task started (Kafka Streams: hit-ratio-avg)."),
		cacheSize:      st("store_cache_size_bytes", "Bytes a store's cache holds."),
		cacheEntries:   st("store_cache_entries", "Entries a store's cache holds."),
		restored:       st("store_restore_total", "Changelog records written into a store by restorations (Kafka Streams: restore-total)."),
		restoreRemaining: st("store_restore_remaining_records",
			"Changelog offsets a store has left to restore (Kafka Streams: restore-remaining-records-total)."),
		expired: st("store_expired_window_record_drop_total",
			"Writes a window or session store dropped because their window had expired (Kafka Streams: expired-window-record-drop)."),

		rocksSizeAllMemTables:    rocks("size_all_mem_tables_bytes", "size-all-mem-tables", "Bytes of the active, unflushed and pinned memtables"),
		rocksCurSizeAllMemTables: rocks("cur_size_all_mem_tables_bytes", "cur-size-all-mem-tables", "Bytes of the active and unflushed memtables"),
		rocksImmutableMemTables:  rocks("num_immutable_mem_tables", "num-immutable-mem-table", "Immutable memtables not flushed yet (the largest over segments)"),
		rocksBlockCacheCapacity:  rocks("block_cache_capacity_bytes", "block-cache-capacity", "Capacity of the block cache"),
		rocksBlockCacheUsage:     rocks("block_cache_usage_bytes", "block-cache-usage", "Bytes in the block cache"),
		rocksBlockCachePinned:    rocks("block_cache_pinned_usage_bytes", "block-cache-pinned-usage", "Bytes pinned in the block cache"),
		rocksNumKeys:             rocks("estimate_num_keys", "estimate-num-keys", "Estimated keys"),
		rocksTableReaders:        rocks("estimate_table_readers_mem_bytes", "estimate-table-readers-mem", "Bytes of index and filter blocks outside the block cache"),
		rocksTotalSST:            rocks("total_sst_files_size_bytes", "total-sst-files-size", "Bytes of all SST files"),
		rocksLiveSST:             rocks("live_sst_files_size_bytes", "live-sst-files-size", "Bytes of the live SST files"),
		rocksPendingCompaction:   rocks("estimate_pending_compaction_bytes", "estimate-pending-compaction-bytes", "Bytes compaction would rewrite"),
		rocksCompactionPending:   rocks("compaction_pending", "compaction-pending", "1 when a compaction is pending"),
		rocksRunningCompactions:  rocks("num_running_compactions", "num-running-compactions", "Compactions running"),
		rocksRunningFlushes:      rocks("num_running_flushes", "num-running-flushes", "Memtable flushes running"),
	}
}

func (d *descs) all() []*prom.Desc {
	return []*prom.Desc{d.appState, d.lag, d.restoringStores, d.restoreSkipped, d.globalDropped, d.productionDropped, d.deliveryDeadLetters, d.placementMismatches,
		d.purges, d.purgeFailures, d.cacheMax, d.cacheUsed, d.hookPanics,
		d.memCapacity, d.memUsed, d.memPinned, d.memWriteBuffers, d.memWriteBufferLimit, d.memStores,
		d.process, d.processLatency, d.processLatencyMax, d.commits, d.enforced, d.lateness, d.latenessMax, d.late, d.dropped, d.deadLetters, d.opened, d.resumed,
		d.buffered, d.bufferedBytes, d.blocked, d.standbyTasks, d.standbyLag, d.standbyApplied, d.standbyCheckpoints,
		d.nodeProcess, d.e2e, d.e2eMin, d.e2eMax, d.recordsConsumed, d.bytesConsumed, d.recordsProduced, d.bytesProduced,
		d.cacheHits, d.cacheMisses, d.cacheEvictions, d.cacheHitRatio, d.cacheSize, d.cacheEntries, d.restored, d.restoreRemaining, d.expired,
		d.rocksSizeAllMemTables, d.rocksCurSizeAllMemTables, d.rocksImmutableMemTables, d.rocksBlockCacheCapacity,
		d.rocksBlockCacheUsage, d.rocksBlockCachePinned, d.rocksNumKeys, d.rocksTableReaders, d.rocksTotalSST, d.rocksLiveSST,
		d.rocksPendingCompaction, d.rocksCompactionPending, d.rocksRunningCompactions, d.rocksRunningFlushes}
}
