/*
 * The part of librdkafka's public C API that this package uses, declared
 * here instead of included: the library is the static archive that
 * confluent-kafka-go links into every binary that imports it, and its
 * header sits in that module's directory, which cgo cannot add to the
 * include path. These declarations follow librdkafka 2.x's ABI; the
 * library's version is checked at run time (rdkb_abi_ok) before any of them
 * is used on a client.
 */
#ifndef RDKBATCH_H
#define RDKBATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_topic_s rd_kafka_topic_t;
typedef struct rd_kafka_queue_s rd_kafka_queue_t;
typedef struct rd_kafka_headers_s rd_kafka_headers_t;
typedef int rd_kafka_resp_err_t;
typedef int rd_kafka_timestamp_type_t;
typedef int rd_kafka_type_t;

/* The message struct is part of the stable ABI (unchanged since 0.9). */
typedef struct rd_kafka_message_s {
        rd_kafka_resp_err_t err;
        rd_kafka_topic_t *rkt;
        int32_t partition;
        void *payload;
        size_t len;
        void *key;
        size_t key_len;
        int64_t offset;
        void *_private;
} rd_kafka_message_t;

int rd_kafka_version(void);
const char *rd_kafka_name(const rd_kafka_t *rk);
rd_kafka_type_t rd_kafka_type(const rd_kafka_t *rk);
rd_kafka_resp_err_t rd_kafka_last_error(void);
const char *rd_kafka_err2str(rd_kafka_resp_err_t err);

rd_kafka_queue_t *rd_kafka_queue_new(rd_kafka_t *rk);
rd_kafka_queue_t *rd_kafka_queue_get_consumer(rd_kafka_t *rk);
rd_kafka_queue_t *rd_kafka_queue_get_partition(rd_kafka_t *rk, const char *topic, int32_t partition);
void rd_kafka_queue_destroy(rd_kafka_queue_t *rkqu);
void rd_kafka_queue_forward(rd_kafka_queue_t *src, rd_kafka_queue_t *dst);
size_t rd_kafka_queue_length(rd_kafka_queue_t *rkqu);
void rd_kafka_queue_io_event_enable(rd_kafka_queue_t *rkqu, int fd, const void *payload, size_t size);
ssize_t rd_kafka_consume_batch_queue(rd_kafka_queue_t *rkqu, int timeout_ms,
                                     rd_kafka_message_t **rkmessages, size_t rkmessages_size);

void rd_kafka_message_destroy(rd_kafka_message_t *rkmessage);
int64_t rd_kafka_message_timestamp(const rd_kafka_message_t *rkmessage, rd_kafka_timestamp_type_t *tstype);
int32_t rd_kafka_message_leader_epoch(const rd_kafka_message_t *rkmessage);
rd_kafka_resp_err_t rd_kafka_message_headers(const rd_kafka_message_t *rkmessage, rd_kafka_headers_t **hdrsp);
size_t rd_kafka_header_cnt(const rd_kafka_headers_t *hdrs);
rd_kafka_resp_err_t rd_kafka_header_get_all(const rd_kafka_headers_t *hdrs, size_t idx,
                                            const char **namep, const void **valuep, size_t *sizep);
const char *rd_kafka_topic_name(const rd_kafka_topic_t *rkt);

rd_kafka_topic_t *rd_kafka_topic_new(rd_kafka_t *rk, const char *topic, void *conf);
void rd_kafka_topic_destroy(rd_kafka_topic_t *rkt);
rd_kafka_resp_err_t rd_kafka_producev(rd_kafka_t *rk, ...);
rd_kafka_headers_t *rd_kafka_headers_new(size_t initial_count);
void rd_kafka_headers_destroy(rd_kafka_headers_t *hdrs);
rd_kafka_resp_err_t rd_kafka_header_add(rd_kafka_headers_t *hdrs, const char *name, ssize_t name_size,
                                        const void *value, ssize_t value_size);

/* ---- this package's C side (rdkbatch.c) ---- */

/* One message as handed to Go: plain integers, offsets into the arena. */
typedef struct rdkb_meta {
        int64_t offset;
        int64_t timestamp;   /* ms; -1 when not available */
        int64_t key_off;     /* arena offsets; len -1 means null */
        int64_t key_len;
        int64_t val_off;
        int64_t val_len;
        int64_t hdr_first;   /* index into the header array */
        int32_t hdr_cnt;
        int32_t partition;
        int32_t err;         /* 0, or a per-partition consumer error (value = its text) */
        int32_t tstype;
        int32_t leader_epoch;
        int32_t topic;       /* index into the batch's topic table */
} rdkb_meta;

/* One header: offsets into the arena; val_len -1 means a null value. */
typedef struct rdkb_hdr {
        int64_t key_off;
        int64_t key_len;
        int64_t val_off;
        int64_t val_len;
} rdkb_hdr;

/* A topic name of the batch, copied into the arena. */
typedef struct rdkb_topic {
        int64_t off;
        int64_t len;
} rdkb_topic;

/* What one rdkb_read call needs from Go's buffers, or produced. */
typedef struct rdkb_result {
        int64_t n;           /* messages written, or messages pending when need_* is set */
        int64_t arena_need;  /* bytes the pending messages need */
        int64_t hdr_need;    /* headers they need */
        int64_t topics;      /* entries of the topic table written */
        int32_t err;         /* consume error (rd_kafka_resp_err_t) */
        int32_t short_buf;   /* 1: buffers too small, nothing written, messages kept */
} rdkb_result;

typedef struct rdkb_state rdkb_state;

/* One message for rdkw_produce: offsets into Go's arena (len -1: null). */
typedef struct rdkw_msg {
        int64_t key_off;
        int64_t key_len;
        int64_t val_off;
        int64_t val_len;
        int64_t timestamp; /* ms; 0: librdkafka stamps the produce time */
        int64_t hdr_first; /* index into the header array */
        int32_t hdr_cnt;
        int32_t partition; /* -1: the configured partitioner picks */
        int32_t topic;     /* index from rdkw_topic */
        int32_t pad;
} rdkw_msg;

typedef struct rdkw_state rdkw_state;

rdkw_state *rdkw_new(rd_kafka_t *rk);
int32_t rdkw_topic(rdkw_state *st, const char *name);
int64_t rdkw_produce(rdkw_state *st, const rdkw_msg *msgs, int64_t n, const char *arena,
                     const rdkb_hdr *hdrs, int32_t *err);
void rdkw_close(rdkw_state *st);

int rdkb_abi_ok(void);
rdkb_state *rdkb_new(rd_kafka_t *rk, char *errstr, size_t errstr_size);
int rdkb_add(rdkb_state *st, const char *topic, int32_t partition);
void rdkb_read(rdkb_state *st, int timeout_ms, int max, int want_hdrs,
               rdkb_meta *metas, char *arena, int64_t arena_cap,
               rdkb_hdr *hdrs, int64_t hdr_cap, rdkb_topic *topics,
               rdkb_result *res);
int64_t rdkb_pending(rdkb_state *st);
int64_t rdkb_partitions(rdkb_state *st);
int64_t rdkb_queued(rdkb_state *st);
void rdkb_close(rdkb_state *st);

/* ---- the own producer (producer.c) ---- */

typedef struct rd_kafka_conf_s rd_kafka_conf_t;
typedef struct rd_kafka_op_s rd_kafka_event_t;
typedef struct rd_kafka_error_s rd_kafka_error_t;
typedef struct rd_kafka_consumer_group_metadata_s rd_kafka_consumer_group_metadata_t;

typedef struct rd_kafka_topic_partition_s {
        char *topic;
        int32_t partition;
        int64_t offset;
        void *metadata;
        size_t metadata_size;
        void *opaque;
        rd_kafka_resp_err_t err;
        void *_private;
} rd_kafka_topic_partition_t;

typedef struct rd_kafka_topic_partition_list_s {
        int cnt;
        int size;
        rd_kafka_topic_partition_t *elems;
} rd_kafka_topic_partition_list_t;

struct rd_kafka_metadata_topic {
        char *topic;
        int partition_cnt;
        void *partitions;
        rd_kafka_resp_err_t err;
};

struct rd_kafka_metadata {
        int broker_cnt;
        void *brokers;
        int topic_cnt;
        struct rd_kafka_metadata_topic *topics;
        int32_t orig_broker_id;
        char *orig_broker_name;
};

rd_kafka_conf_t *rd_kafka_conf_new(void);
int rd_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                      size_t errstr_size);
void rd_kafka_conf_set_events(rd_kafka_conf_t *conf, int events);
void rd_kafka_conf_destroy(rd_kafka_conf_t *conf);
rd_kafka_t *rd_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size);
void rd_kafka_destroy(rd_kafka_t *rk);
rd_kafka_queue_t *rd_kafka_queue_get_main(rd_kafka_t *rk);
rd_kafka_resp_err_t rd_kafka_set_log_queue(rd_kafka_t *rk, rd_kafka_queue_t *rkqu);
rd_kafka_event_t *rd_kafka_queue_poll(rd_kafka_queue_t *rkqu, int timeout_ms);
int rd_kafka_event_type(const rd_kafka_event_t *rkev);
const rd_kafka_message_t *rd_kafka_event_message_next(rd_kafka_event_t *rkev);
rd_kafka_resp_err_t rd_kafka_event_error(rd_kafka_event_t *rkev);
const char *rd_kafka_event_error_string(rd_kafka_event_t *rkev);
int rd_kafka_event_error_is_fatal(rd_kafka_event_t *rkev);
int rd_kafka_event_log(rd_kafka_event_t *rkev, const char **fac, const char **str, int *level);
void rd_kafka_event_destroy(rd_kafka_event_t *rkev);
int rd_kafka_outq_len(rd_kafka_t *rk);
rd_kafka_resp_err_t rd_kafka_flush(rd_kafka_t *rk, int timeout_ms);
rd_kafka_resp_err_t rd_kafka_purge(rd_kafka_t *rk, int purge_flags);
rd_kafka_resp_err_t rd_kafka_fatal_error(rd_kafka_t *rk, char *errstr, size_t errstr_size);
rd_kafka_resp_err_t rd_kafka_metadata(rd_kafka_t *rk, int all_topics, rd_kafka_topic_t *only_rkt,
                                      const struct rd_kafka_metadata **metadatap, int timeout_ms);
void rd_kafka_metadata_destroy(const struct rd_kafka_metadata *metadata);

rd_kafka_error_t *rd_kafka_init_transactions(rd_kafka_t *rk, int timeout_ms);
rd_kafka_error_t *rd_kafka_begin_transaction(rd_kafka_t *rk);
rd_kafka_error_t *rd_kafka_send_offsets_to_transaction(rd_kafka_t *rk,
                                                       const rd_kafka_topic_partition_list_t *offsets,
                                                       const rd_kafka_consumer_group_metadata_t *cgmetadata,
                                                       int timeout_ms);
rd_kafka_error_t *rd_kafka_commit_transaction(rd_kafka_t *rk, int timeout_ms);
rd_kafka_error_t *rd_kafka_abort_transaction(rd_kafka_t *rk, int timeout_ms);
rd_kafka_resp_err_t rd_kafka_error_code(const rd_kafka_error_t *error);
const char *rd_kafka_error_string(const rd_kafka_error_t *error);
int rd_kafka_error_is_fatal(const rd_kafka_error_t *error);
int rd_kafka_error_is_retriable(const rd_kafka_error_t *error);
int rd_kafka_error_txn_requires_abort(const rd_kafka_error_t *error);
void rd_kafka_error_destroy(rd_kafka_error_t *error);
rd_kafka_consumer_group_metadata_t *rd_kafka_consumer_group_metadata(rd_kafka_t *rk);
void rd_kafka_consumer_group_metadata_destroy(rd_kafka_consumer_group_metadata_t *cgmd);
rd_kafka_topic_partition_list_t *rd_kafka_topic_partition_list_new(int size);
rd_kafka_topic_partition_t *rd_kafka_topic_partition_list_add(rd_kafka_topic_partition_list_t *rktparlist,
                                                              const char *topic, int32_t partition);
void rd_kafka_topic_partition_list_destroy(rd_kafka_topic_partition_list_t *rkparlist);

/* A failed delivery, copied out of librdkafka (len -1: null). */
typedef struct rdkp_failure {
        struct rdkp_failure *next;
        char *topic;
        char *errstr;
        char *key;
        char *value;
        char **hdr_names;
        char **hdr_values;
        int64_t *hdr_lens; /* -1: null value */
        int64_t key_len;
        int64_t val_len;
        int64_t timestamp; /* ms; -1 when not available */
        uint64_t opaque;
        int32_t partition;
        int32_t err;
        int32_t hdr_cnt;
        int32_t pad;
} rdkp_failure;

/* A log line or a client error, copied out of librdkafka. */
typedef struct rdkp_note {
        struct rdkp_note *next;
        char *tag;  /* log facility; NULL for an error */
        char *text;
        int32_t level; /* syslog level of a log line */
        int32_t err;   /* error code of an error */
        int32_t fatal;
        int32_t pad;
} rdkp_note;

/* A tracked record's outcome (its opaque at or above RDKP_TRACKED). */
typedef struct rdkp_ack {
        struct rdkp_ack *next;
        char *errstr;
        uint64_t id;
        int32_t err;
        int32_t pad;
} rdkp_ack;

#define RDKP_TRACKED ((uint64_t)1 << 32)

/* What one rdkp_poll served. */
typedef struct rdkp_poll_result {
        int64_t delivered; /* records acknowledged */
        int64_t failed;    /* failures queued */
        int64_t acks;      /* tracked outcomes queued */
        int64_t notes;     /* log lines and errors queued */
} rdkp_poll_result;

typedef struct rdkp_state rdkp_state;

rdkp_state *rdkp_new(char **names, char **values, int n, char *errstr, size_t errstr_size);
rd_kafka_t *rdkp_rk(rdkp_state *st);
void rdkp_poll(rdkp_state *st, int timeout_ms, rdkp_poll_result *res);
int64_t rdkp_delivered(rdkp_state *st);
int64_t rdkp_offset(rdkp_state *st, const char *topic, int32_t partition);
rdkp_failure *rdkp_take_failures(rdkp_state *st);
void rdkp_free_failures(rdkp_failure *f);
rdkp_note *rdkp_take_notes(rdkp_state *st);
void rdkp_free_notes(rdkp_note *n);
rdkp_ack *rdkp_take_acks(rdkp_state *st);
void rdkp_free_acks(rdkp_ack *a);
int32_t rdkp_produce1(rd_kafka_t *rk, const char *topic, int32_t partition, const char *key, int64_t key_len,
                      const char *value, int64_t val_len, int64_t timestamp, const rdkb_hdr *hdrs,
                      int32_t hdr_cnt, const char *arena, uint64_t opaque);
int32_t rdkp_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, int32_t *err);
rd_kafka_error_t *rdkp_send_offsets(rd_kafka_t *rk, rd_kafka_t *consumer, const char **topics,
                                    const int32_t *partitions, const int64_t *offsets, int n, int timeout_ms);
void rdkp_destroy(rdkp_state *st);

#endif
