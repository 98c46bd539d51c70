/*
 * The C side of the batch writer: one call (rdkw_produce) hands a batch of
 * messages, described by offsets into Go's arena, to librdkafka's producev
 * with RD_KAFKA_MSG_F_COPY, so librdkafka keeps no pointer into Go memory.
 * Topics are passed by name (librdkafka finds its own topic object), so the
 * writer holds no librdkafka reference that could outlive the producer:
 * rdkw_close only frees the writer's own memory, and is safe at any time.
 */
#include <stdlib.h>
#include <string.h>

#include "rdkbatch.h"

/* librdkafka's producev argument tags (rd_kafka_vtype_t) and flags. */
enum {
        RDKW_V_END       = 0,
        RDKW_V_TOPIC     = 1,
        RDKW_V_PARTITION = 3,
        RDKW_V_VALUE     = 4,
        RDKW_V_KEY       = 5,
        RDKW_V_MSGFLAGS  = 7,
        RDKW_V_TIMESTAMP = 8,
        RDKW_V_HEADERS   = 10,
};
#define RDKW_MSG_F_COPY 0x2
#define RDKW_ERR_FAIL (-196)

struct rdkw_state {
        rd_kafka_t *rk;
        char **names; /* the topics used, by index */
        int64_t n, cap;
};

rdkw_state *rdkw_new(rd_kafka_t *rk) {
        rdkw_state *st = calloc(1, sizeof(*st));
        if (st)
                st->rk = rk;
        return st;
}

int32_t rdkw_topic(rdkw_state *st, const char *name) {
        char *copy;
        if (st->n == st->cap) {
                int64_t ncap  = st->cap ? 2 * st->cap : 8;
                char **nnames = realloc(st->names, ncap * sizeof(*nnames));
                if (!nnames)
                        return -1;
                st->names = nnames;
                st->cap   = ncap;
        }
        copy = strdup(name);
        if (!copy)
                return -1;
        st->names[st->n] = copy;
        return (int32_t)st->n++;
}

int64_t rdkw_produce(rdkw_state *st, const rdkw_msg *msgs, int64_t n, const char *arena,
                     const rdkb_hdr *hdrs, int32_t *err) {
        int64_t i;
        *err = 0;
        for (i = 0; i < n; i++) {
                const rdkw_msg *m       = &msgs[i];
                rd_kafka_headers_t *hs  = NULL;
                rd_kafka_resp_err_t e;
                if (m->hdr_cnt > 0) {
                        int32_t j;
                        hs = rd_kafka_headers_new((size_t)m->hdr_cnt);
                        for (j = 0; j < m->hdr_cnt; j++) {
                                const rdkb_hdr *h = &hdrs[m->hdr_first + j];
                                rd_kafka_header_add(hs, arena + h->key_off, (ssize_t)h->key_len,
                                                    h->val_len < 0 ? NULL : arena + h->val_off,
                                                    h->val_len < 0 ? 0 : (ssize_t)h->val_len);
                        }
                }
                e = rd_kafka_producev(
                    st->rk, RDKW_V_TOPIC, st->names[m->topic], RDKW_V_PARTITION, (int32_t)m->partition,
                    RDKW_V_MSGFLAGS, (int)RDKW_MSG_F_COPY, RDKW_V_VALUE,
                    (void *)(m->val_len < 0 ? NULL : arena + m->val_off),
                    (size_t)(m->val_len < 0 ? 0 : m->val_len), RDKW_V_KEY,
                    (void *)(m->key_len < 0 ? NULL : arena + m->key_off),
                    (size_t)(m->key_len < 0 ? 0 : m->key_len), RDKW_V_TIMESTAMP,
                    (int64_t)m->timestamp, RDKW_V_HEADERS, hs, RDKW_V_END);
                if (e != 0) {
                        if (hs)
                                rd_kafka_headers_destroy(hs); /* still ours on failure */
                        *err = e;
                        return i;
                }
        }
        return n;
}

void rdkw_close(rdkw_state *st) {
        int64_t i;
        for (i = 0; i < st->n; i++)
                free(st->names[i]);
        free(st->names);
        free(st);
}
