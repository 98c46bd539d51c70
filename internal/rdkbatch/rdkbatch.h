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

#endif
