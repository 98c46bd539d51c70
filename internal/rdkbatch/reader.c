/*
 * The C side of the batch reader: one call (rdkb_read) takes a batch from
 * the reader's own librdkafka queue, copies keys, values, headers and topic
 * names into Go's arena, describes each message with plain integers and
 * hands every message back to librdkafka. No Go pointer is kept here past
 * a call, and no Go function is called from C.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "rdkbatch.h"

/* librdkafka's "no error" and "not found" codes. */
#define RDKB_NO_ERROR 0
#define RDKB_ERR_NOENT (-156)
#define RDKB_ERR_FAIL (-196)

struct rdkb_state {
        rd_kafka_t *rk;
        rd_kafka_queue_t *q;  /* ours: the partitions' fetch queues lead here */
        rd_kafka_queue_t *cq; /* the consumer queue the Go client polls */
        int efd;              /* woken when q or cq gets something */

        rd_kafka_queue_t **parts; /* every partition queue routed to q */
        int64_t nparts, capparts;

        rd_kafka_message_t **msgs; /* consumed, not yet handed to Go */
        int64_t cap, n;

        const rd_kafka_topic_t **rkts; /* distinct topics of the batch */
        int64_t caprkts;
};

/* The eventfd counter increment librdkafka writes on a wake-up. */
static const uint64_t rdkb_one = 1;

int rdkb_abi_ok(void) {
        /* 2.x keeps the message struct and every call declared in
         * rdkbatch.h; 2.11 is the version this code was read against. */
        int v = rd_kafka_version();
        return (v >> 24) == 2 && ((v >> 16) & 0xff) >= 11;
}

rdkb_state *rdkb_new(rd_kafka_t *rk, char *errstr, size_t errstr_size) {
        rdkb_state *st = calloc(1, sizeof(*st));
        if (!st) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        st->rk  = rk;
        st->efd = -1;
        st->cq  = rd_kafka_queue_get_consumer(rk);
        if (!st->cq) {
                snprintf(errstr, errstr_size,
                         "the consumer has no consumer group queue (no group.id)");
                free(st);
                return NULL;
        }
        st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (st->efd < 0) {
                snprintf(errstr, errstr_size, "eventfd: %s", strerror(errno));
                rd_kafka_queue_destroy(st->cq);
                free(st);
                return NULL;
        }
        st->q = rd_kafka_queue_new(rk);
        rd_kafka_queue_io_event_enable(st->q, st->efd, &rdkb_one, sizeof(rdkb_one));
        rd_kafka_queue_io_event_enable(st->cq, st->efd, &rdkb_one, sizeof(rdkb_one));
        return st;
}

int rdkb_add(rdkb_state *st, const char *topic, int32_t partition) {
        rd_kafka_queue_t *pq = rd_kafka_queue_get_partition(st->rk, topic, partition);
        if (!pq)
                return -1;
        if (st->nparts == st->capparts) {
                int64_t ncap = st->capparts ? 2 * st->capparts : 16;
                rd_kafka_queue_t **np = realloc(st->parts, ncap * sizeof(*np));
                if (!np) {
                        rd_kafka_queue_destroy(pq);
                        return -2;
                }
                st->parts    = np;
                st->capparts = ncap;
        }
        st->parts[st->nparts++] = pq;
        rd_kafka_queue_forward(pq, st->q);
        return 0;
}

int64_t rdkb_pending(rdkb_state *st) {
        return st->n;
}

int64_t rdkb_queued(rdkb_state *st) {
        return (int64_t)rd_kafka_queue_length(st->q);
}

int64_t rdkb_partitions(rdkb_state *st) {
        return st->nparts;
}

/* A stopped fetcher (revocation, or an assign that replaces the current
 * assignment) clears its queue's forwarding, and once an application has
 * forwarded a partition queue librdkafka never routes it to the consumer
 * queue again: the route to q is set again before every batch. Setting a
 * route that is already in place only swaps a reference. */
static void rdkb_reassert(rdkb_state *st) {
        int64_t i;
        for (i = 0; i < st->nparts; i++)
                rd_kafka_queue_forward(st->parts[i], st->q);
}

static void rdkb_drain_efd(rdkb_state *st) {
        uint64_t v;
        while (read(st->efd, &v, sizeof(v)) == sizeof(v))
                ;
}

static ssize_t rdkb_consume(rdkb_state *st, int max) {
        return rd_kafka_consume_batch_queue(st->q, 0, st->msgs, (size_t)max);
}

/* Takes a batch, waiting up to timeout_ms for one, and returns early (with
 * nothing) when the consumer queue holds an event for the Go client. */
static ssize_t rdkb_take(rdkb_state *st, int timeout_ms, int max) {
        ssize_t n;
        struct pollfd pfd;

        rdkb_reassert(st);
        n = rdkb_consume(st, max);
        if (n != 0 || timeout_ms == 0)
                return n;
        if (rd_kafka_queue_length(st->cq) > 0)
                return 0;
        /* Drain, then look again: a wake-up written before the drain is
         * covered by the second look, one written after it by poll. */
        rdkb_drain_efd(st);
        n = rdkb_consume(st, max);
        if (n != 0 || rd_kafka_queue_length(st->cq) > 0)
                return n;
        pfd.fd      = st->efd;
        pfd.events  = POLLIN;
        pfd.revents = 0;
        while (poll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms) < 0 && errno == EINTR)
                ;
        return rdkb_consume(st, max);
}

static int rdkb_topic_index(rdkb_state *st, const rd_kafka_topic_t *rkt, int64_t *ntopics,
                            int64_t *last) {
        int64_t i;
        if (*last >= 0 && st->rkts[*last] == rkt)
                return (int)*last;
        for (i = 0; i < *ntopics; i++) {
                if (st->rkts[i] == rkt) {
                        *last = i;
                        return (int)i;
                }
        }
        st->rkts[*ntopics] = rkt;
        *last              = *ntopics;
        return (int)(*ntopics)++;
}

static rd_kafka_headers_t *rdkb_headers(const rd_kafka_message_t *m) {
        rd_kafka_headers_t *h = NULL;
        if (m->err || rd_kafka_message_headers(m, &h) != RDKB_NO_ERROR)
                return NULL;
        return h;
}

/* Sizes the first cnt pending messages: arena bytes, headers, topics. */
static void rdkb_size(rdkb_state *st, int64_t cnt, int want_hdrs, int64_t *arena,
                      int64_t *nhdrs) {
        int64_t i, ntopics = 0, last = -1, a = 0, h = 0;
        for (i = 0; i < cnt; i++) {
                const rd_kafka_message_t *m = st->msgs[i];
                if (m->rkt) {
                        int64_t before = ntopics;
                        rdkb_topic_index(st, m->rkt, &ntopics, &last);
                        if (ntopics > before)
                                a += (int64_t)strlen(rd_kafka_topic_name(m->rkt));
                }
                if (m->err) {
                        if (m->payload)
                                a += (int64_t)m->len;
                        continue;
                }
                if (m->key)
                        a += (int64_t)m->key_len;
                if (m->payload)
                        a += (int64_t)m->len;
                if (want_hdrs) {
                        rd_kafka_headers_t *hs = rdkb_headers(m);
                        size_t j, hc = hs ? rd_kafka_header_cnt(hs) : 0;
                        for (j = 0; j < hc; j++) {
                                const char *name;
                                const void *val;
                                size_t size;
                                if (rd_kafka_header_get_all(hs, j, &name, &val, &size) !=
                                    RDKB_NO_ERROR)
                                        break;
                                a += (int64_t)strlen(name) + (val ? (int64_t)size : 0);
                                h++;
                        }
                }
        }
        *arena = a;
        *nhdrs = h;
}

static int64_t rdkb_put(char *arena, int64_t *used, const void *p, size_t len) {
        int64_t off = *used;
        if (len > 0)
                memcpy(arena + off, p, len);
        *used += (int64_t)len;
        return off;
}

void rdkb_read(rdkb_state *st, int timeout_ms, int max, int want_hdrs, rdkb_meta *metas,
               char *arena, int64_t arena_cap, rdkb_hdr *hdrs, int64_t hdr_cap,
               rdkb_topic *topics, rdkb_result *res) {
        int64_t i, cnt, need, hneed, used = 0, hused = 0, ntopics = 0, last = -1;

        memset(res, 0, sizeof(*res));
        if (max <= 0)
                return;
        if (st->n == 0) {
                ssize_t n;
                if (max > st->cap) {
                        rd_kafka_message_t **nm = realloc(st->msgs, max * sizeof(*nm));
                        const rd_kafka_topic_t **nt = realloc(st->rkts, max * sizeof(*nt));
                        if (nm)
                                st->msgs = nm;
                        if (nt)
                                st->rkts = nt;
                        if (!nm || !nt) {
                                res->err = RDKB_ERR_FAIL;
                                return;
                        }
                        st->cap = max;
                }
                n = rdkb_take(st, timeout_ms, max);
                if (n < 0) {
                        res->err = rd_kafka_last_error();
                        if (res->err == RDKB_NO_ERROR)
                                res->err = RDKB_ERR_FAIL;
                        return;
                }
                st->n = n;
        }
        cnt = st->n < max ? st->n : max;
        if (cnt == 0)
                return;

        rdkb_size(st, cnt, want_hdrs, &need, &hneed);
        if (need > arena_cap || hneed > hdr_cap) {
                res->short_buf  = 1;
                res->n          = cnt;
                res->arena_need = need;
                res->hdr_need   = hneed;
                return;
        }

        for (i = 0; i < cnt; i++) {
                rd_kafka_message_t *m = st->msgs[i];
                rdkb_meta *md         = &metas[i];
                rd_kafka_timestamp_type_t tst = 0;

                md->offset       = m->offset;
                md->partition    = m->partition;
                md->err          = m->err;
                md->leader_epoch = rd_kafka_message_leader_epoch(m);
                md->timestamp    = m->err ? -1 : rd_kafka_message_timestamp(m, &tst);
                md->tstype       = tst;
                md->hdr_first    = hused;
                md->hdr_cnt      = 0;
                md->key_len = md->val_len = -1;
                md->key_off = md->val_off = 0;
                md->topic                 = -1;
                if (m->rkt) {
                        int64_t before = ntopics;
                        md->topic      = rdkb_topic_index(st, m->rkt, &ntopics, &last);
                        if (ntopics > before) {
                                const char *name       = rd_kafka_topic_name(m->rkt);
                                size_t len             = strlen(name);
                                topics[md->topic].off = rdkb_put(arena, &used, name, len);
                                topics[md->topic].len = (int64_t)len;
                        }
                }
                if (m->err) {
                        /* The value carries the error's text. */
                        if (m->payload) {
                                md->val_off = rdkb_put(arena, &used, m->payload, m->len);
                                md->val_len = (int64_t)m->len;
                        }
                        continue;
                }
                if (m->key) {
                        md->key_off = rdkb_put(arena, &used, m->key, m->key_len);
                        md->key_len = (int64_t)m->key_len;
                }
                if (m->payload) {
                        md->val_off = rdkb_put(arena, &used, m->payload, m->len);
                        md->val_len = (int64_t)m->len;
                }
                if (want_hdrs) {
                        rd_kafka_headers_t *hs = rdkb_headers(m);
                        size_t j, hc = hs ? rd_kafka_header_cnt(hs) : 0;
                        for (j = 0; j < hc; j++) {
                                const char *name;
                                const void *val;
                                size_t size, nlen;
                                rdkb_hdr *hd;
                                if (rd_kafka_header_get_all(hs, j, &name, &val, &size) !=
                                    RDKB_NO_ERROR)
                                        break;
                                hd          = &hdrs[hused++];
                                nlen        = strlen(name);
                                hd->key_off = rdkb_put(arena, &used, name, nlen);
                                hd->key_len = (int64_t)nlen;
                                if (val) {
                                        hd->val_off = rdkb_put(arena, &used, val, size);
                                        hd->val_len = (int64_t)size;
                                } else {
                                        hd->val_off = 0;
                                        hd->val_len = -1;
                                }
                                md->hdr_cnt++;
                        }
                }
        }

        for (i = 0; i < cnt; i++)
                rd_kafka_message_destroy(st->msgs[i]);
        if (cnt < st->n)
                memmove(st->msgs, st->msgs + cnt, (st->n - cnt) * sizeof(*st->msgs));
        st->n -= cnt;
        res->n      = cnt;
        res->topics = ntopics;
}

void rdkb_close(rdkb_state *st) {
        int64_t i;
        rd_kafka_queue_io_event_enable(st->cq, -1, NULL, 0);
        rd_kafka_queue_io_event_enable(st->q, -1, NULL, 0);
        /* What q holds moves to the consumer queue (in order, before
         * anything newer), then the partitions route there directly. q
         * itself stays forwarded to the consumer queue and is never
         * destroyed: a broker thread may still be enqueueing into it (it
         * took q from a partition queue just before the re-route), and
         * destroying q would drop that message, or, while forwarded, purge
         * the consumer queue itself. Its few hundred bytes are the price. */
        rd_kafka_queue_forward(st->q, st->cq);
        for (i = 0; i < st->nparts; i++) {
                rd_kafka_queue_forward(st->parts[i], st->cq);
                rd_kafka_queue_destroy(st->parts[i]);
        }
        for (i = 0; i < st->n; i++)
                rd_kafka_message_destroy(st->msgs[i]);
        rd_kafka_queue_destroy(st->cq);
        close(st->efd);
        free(st->parts);
        free(st->msgs);
        free(st->rkts);
        free(st);
}
