/*
 * The C side of the own producer (producer.go). The client is created in
 * event mode for delivery reports, errors and logs (as confluent-kafka-go
 * creates its own), so librdkafka calls nothing of ours from its threads
 * and rd_kafka_flush (also inside rd_kafka_commit_transaction) waits for
 * the poller instead of serving the queue itself: only the poller
 * (rdkp_poll) ever touches delivery reports.
 *
 * rdkp_poll waits for the first event without the lock, then takes the
 * lock once and serves up to RDKP_POLL_EVENTS events: a successful
 * delivery only counts and raises its partition's highest offset in a
 * hash table; a failure, a log line, an error or a tracked record's
 * outcome is copied into a list for Go to take as a whole. Nothing here
 * calls into Go.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rdkbatch.h"

#define RDKP_EV_DR 0x1
#define RDKP_EV_LOG 0x4
#define RDKP_EV_ERROR 0x8
#define RDKP_POLL_EVENTS 64

enum {
        RDKP_V_END       = 0,
        RDKP_V_TOPIC     = 1,
        RDKP_V_PARTITION = 3,
        RDKP_V_VALUE     = 4,
        RDKP_V_KEY       = 5,
        RDKP_V_OPAQUE    = 6,
        RDKP_V_MSGFLAGS  = 7,
        RDKP_V_TIMESTAMP = 8,
        RDKP_V_HEADERS   = 10,
};
#define RDKP_MSG_F_COPY 0x2

/* One partition's highest delivered offset, plus one. */
typedef struct rdkp_tp {
        char *topic; /* NULL: free slot */
        uint64_t hash;
        int64_t next;
        int32_t partition;
} rdkp_tp;

struct rdkp_state {
        rd_kafka_t *rk;
        rd_kafka_queue_t *mainq;
        pthread_mutex_t mu;
        /* under mu: */
        int64_t delivered;
        rdkp_tp *tps;
        int64_t tp_cap, tp_n; /* tp_cap a power of two */
        rdkp_failure *fail_head, *fail_tail;
        rdkp_note *note_head, *note_tail;
        rdkp_ack *ack_head, *ack_tail;
};

static uint64_t rdkp_hash(const char *s, int32_t partition) {
        uint64_t h = 1469598103934665603ULL;
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        h ^= (uint64_t)(uint32_t)partition * 0x9E3779B97F4A7C15ULL;
        return h ^ (h >> 29);
}

static char *rdkp_dup(const void *p, size_t n) {
        char *c = malloc(n + 1);
        if (c) {
                if (n)
                        memcpy(c, p, n);
                c[n] = 0;
        }
        return c;
}

static char *rdkp_strdup(const char *s) { return rdkp_dup(s ? s : "", s ? strlen(s) : 0); }

rdkp_state *rdkp_new(char **names, char **values, int n, char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rdkp_state *st;
        int i;
        for (i = 0; i < n; i++) {
                if (rd_kafka_conf_set(conf, names[i], values[i], errstr, errstr_size) != 0) {
                        rd_kafka_conf_destroy(conf);
                        return NULL;
                }
        }
        if (rd_kafka_conf_set(conf, "log.queue", "true", errstr, errstr_size) != 0) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_conf_set_events(conf, RDKP_EV_DR | RDKP_EV_ERROR);
        st = calloc(1, sizeof(*st));
        if (!st) {
                rd_kafka_conf_destroy(conf);
                strncpy(errstr, "out of memory", errstr_size);
                return NULL;
        }
        st->tp_cap = 64;
        st->tps    = calloc((size_t)st->tp_cap, sizeof(*st->tps));
        if (!st->tps) {
                free(st);
                rd_kafka_conf_destroy(conf);
                strncpy(errstr, "out of memory", errstr_size);
                return NULL;
        }
        st->rk = rd_kafka_new(0 /* RD_KAFKA_PRODUCER */, conf, errstr, errstr_size);
        if (!st->rk) {
                rd_kafka_conf_destroy(conf); /* still ours when rd_kafka_new fails */
                free(st->tps);
                free(st);
                return NULL;
        }
        st->mainq = rd_kafka_queue_get_main(st->rk);
        rd_kafka_set_log_queue(st->rk, NULL); /* logs to the main queue */
        pthread_mutex_init(&st->mu, NULL);
        return st;
}

rd_kafka_t *rdkp_rk(rdkp_state *st) { return st->rk; }

static rdkp_tp *rdkp_slot(rdkp_tp *tps, int64_t cap, const char *topic, int32_t partition, uint64_t h) {
        int64_t i = (int64_t)(h & (uint64_t)(cap - 1));
        for (;;) {
                rdkp_tp *e = &tps[i];
                if (!e->topic || (e->hash == h && e->partition == partition && strcmp(e->topic, topic) == 0))
                        return e;
                i = (i + 1) & (cap - 1);
        }
}

static int rdkp_grow(rdkp_state *st) {
        int64_t ncap = st->tp_cap * 2, i;
        rdkp_tp *n   = calloc((size_t)ncap, sizeof(*n));
        if (!n)
                return -1;
        for (i = 0; i < st->tp_cap; i++) {
                rdkp_tp *e = &st->tps[i];
                if (e->topic)
                        *rdkp_slot(n, ncap, e->topic, e->partition, e->hash) = *e;
        }
        free(st->tps);
        st->tps    = n;
        st->tp_cap = ncap;
        return 0;
}

/* Raises a partition's next offset; an out-of-memory table loses it
 * (rdkp_offset then reports none for that partition). */
static void rdkp_delivered_at(rdkp_state *st, const char *topic, int32_t partition, uint64_t h, int64_t next) {
        rdkp_tp *e = rdkp_slot(st->tps, st->tp_cap, topic, partition, h);
        if (!e->topic) {
                if (2 * (st->tp_n + 1) > st->tp_cap) {
                        if (rdkp_grow(st) != 0)
                                return;
                        e = rdkp_slot(st->tps, st->tp_cap, topic, partition, h);
                }
                e->topic = rdkp_strdup(topic);
                if (!e->topic)
                        return;
                e->hash      = h;
                e->partition = partition;
                e->next      = next;
                st->tp_n++;
                return;
        }
        if (next > e->next)
                e->next = next;
}

static void rdkp_failed(rdkp_state *st, const rd_kafka_message_t *m, uint64_t opaque) {
        rdkp_failure *f = calloc(1, sizeof(*f));
        rd_kafka_headers_t *hs = NULL;
        rd_kafka_timestamp_type_t tstype;
        if (!f)
                return;
        f->topic     = rdkp_strdup(rd_kafka_topic_name(m->rkt));
        f->errstr    = rdkp_strdup(rd_kafka_err2str(m->err));
        f->partition = m->partition;
        f->err       = m->err;
        f->opaque    = opaque;
        /* rd_kafka_message_timestamp answers -1 for any message with an
         * error; the record's own timestamp is still in it. The message
         * is this poller's until the event is destroyed, so the error is
         * cleared for the call and put back. */
        {
                rd_kafka_message_t *mm = (rd_kafka_message_t *)m;
                rd_kafka_resp_err_t e  = mm->err;
                mm->err                = 0;
                f->timestamp           = rd_kafka_message_timestamp(mm, &tstype);
                mm->err                = e;
        }
        f->key_len   = m->key ? (int64_t)m->key_len : -1;
        f->key       = m->key ? rdkp_dup(m->key, m->key_len) : NULL;
        f->val_len   = m->payload ? (int64_t)m->len : -1;
        f->value     = m->payload ? rdkp_dup(m->payload, m->len) : NULL;
        if (rd_kafka_message_headers(m, &hs) == 0 && hs) {
                size_t cnt = rd_kafka_header_cnt(hs), i;
                f->hdr_names  = calloc(cnt ? cnt : 1, sizeof(char *));
                f->hdr_values = calloc(cnt ? cnt : 1, sizeof(char *));
                f->hdr_lens   = calloc(cnt ? cnt : 1, sizeof(int64_t));
                if (f->hdr_names && f->hdr_values && f->hdr_lens) {
                        for (i = 0; i < cnt; i++) {
                                const char *name;
                                const void *val;
                                size_t size;
                                if (rd_kafka_header_get_all(hs, i, &name, &val, &size) != 0)
                                        break;
                                f->hdr_names[i]  = rdkp_strdup(name);
                                f->hdr_values[i] = val ? rdkp_dup(val, size) : NULL;
                                f->hdr_lens[i]   = val ? (int64_t)size : -1;
                                f->hdr_cnt++;
                        }
                }
        }
        if (st->fail_tail)
                st->fail_tail->next = f;
        else
                st->fail_head = f;
        st->fail_tail = f;
}

static void rdkp_acked(rdkp_state *st, const rd_kafka_message_t *m, uint64_t id) {
        rdkp_ack *a = calloc(1, sizeof(*a));
        if (!a)
                return;
        a->id     = id;
        a->err    = m->err;
        a->errstr = m->err ? rdkp_strdup(rd_kafka_err2str(m->err)) : NULL;
        if (st->ack_tail)
                st->ack_tail->next = a;
        else
                st->ack_head = a;
        st->ack_tail = a;
}

static void rdkp_note_add(rdkp_state *st, const char *tag, const char *text, int level, int err, int fatal) {
        rdkp_note *n = calloc(1, sizeof(*n));
        if (!n)
                return;
        n->tag   = tag ? rdkp_strdup(tag) : NULL;
        n->text  = rdkp_strdup(text);
        n->level = level;
        n->err   = err;
        n->fatal = fatal;
        if (st->note_tail)
                st->note_tail->next = n;
        else
                st->note_head = n;
        st->note_tail = n;
}

static void rdkp_serve(rdkp_state *st, rd_kafka_event_t *ev, rdkp_poll_result *res) {
        switch (rd_kafka_event_type(ev)) {
        case RDKP_EV_DR: {
                const rd_kafka_message_t *m;
                const rd_kafka_topic_t *last = NULL;
                const char *name             = NULL;
                int32_t lastp                = -1;
                uint64_t h                   = 0;
                while ((m = rd_kafka_event_message_next(ev))) {
                        uint64_t opaque = (uint64_t)(uintptr_t)m->_private;
                        if (opaque >= RDKP_TRACKED) {
                                rdkp_acked(st, m, opaque);
                                res->acks++;
                                continue;
                        }
                        if (m->err) {
                                rdkp_failed(st, m, opaque);
                                res->failed++;
                                continue;
                        }
                        res->delivered++;
                        if (m->offset < 0)
                                continue; /* no offset known (acks=0) */
                        /* The event's messages share a few topics and
                         * partitions; the hash is computed once per run. */
                        if (m->rkt != last || m->partition != lastp) {
                                last  = m->rkt;
                                lastp = m->partition;
                                name  = rd_kafka_topic_name(m->rkt);
                                h     = rdkp_hash(name, m->partition);
                        }
                        rdkp_delivered_at(st, name, m->partition, h, m->offset + 1);
                }
                break;
        }
        case RDKP_EV_ERROR:
                rdkp_note_add(st, NULL, rd_kafka_event_error_string(ev), 3, rd_kafka_event_error(ev),
                              rd_kafka_event_error_is_fatal(ev));
                res->notes++;
                break;
        case RDKP_EV_LOG: {
                const char *fac = NULL, *str = NULL;
                int level = 6;
                if (rd_kafka_event_log(ev, &fac, &str, &level) == 0) {
                        rdkp_note_add(st, fac, str, level, 0, 0);
                        res->notes++;
                }
                break;
        }
        default:
                break;
        }
}

void rdkp_poll(rdkp_state *st, int timeout_ms, rdkp_poll_result *res) {
        rd_kafka_event_t *ev;
        int i;
        memset(res, 0, sizeof(*res));
        ev = rd_kafka_queue_poll(st->mainq, timeout_ms);
        if (!ev)
                return;
        pthread_mutex_lock(&st->mu);
        for (i = 0; ev; i++) {
                rdkp_serve(st, ev, res);
                rd_kafka_event_destroy(ev);
                ev = i + 1 < RDKP_POLL_EVENTS ? rd_kafka_queue_poll(st->mainq, 0) : NULL;
        }
        st->delivered += res->delivered;
        pthread_mutex_unlock(&st->mu);
}

int64_t rdkp_delivered(rdkp_state *st) {
        int64_t n;
        pthread_mutex_lock(&st->mu);
        n = st->delivered;
        pthread_mutex_unlock(&st->mu);
        return n;
}

int64_t rdkp_offset(rdkp_state *st, const char *topic, int32_t partition) {
        int64_t next;
        rdkp_tp *e;
        pthread_mutex_lock(&st->mu);
        e    = rdkp_slot(st->tps, st->tp_cap, topic, partition, rdkp_hash(topic, partition));
        next = e->topic ? e->next : -1;
        pthread_mutex_unlock(&st->mu);
        return next;
}

rdkp_failure *rdkp_take_failures(rdkp_state *st) {
        rdkp_failure *f;
        pthread_mutex_lock(&st->mu);
        f             = st->fail_head;
        st->fail_head = st->fail_tail = NULL;
        pthread_mutex_unlock(&st->mu);
        return f;
}

void rdkp_free_failures(rdkp_failure *f) {
        while (f) {
                rdkp_failure *next = f->next;
                int32_t i;
                for (i = 0; i < f->hdr_cnt; i++) {
                        free(f->hdr_names[i]);
                        free(f->hdr_values[i]);
                }
                free(f->hdr_names);
                free(f->hdr_values);
                free(f->hdr_lens);
                free(f->topic);
                free(f->errstr);
                free(f->key);
                free(f->value);
                free(f);
                f = next;
        }
}

rdkp_note *rdkp_take_notes(rdkp_state *st) {
        rdkp_note *n;
        pthread_mutex_lock(&st->mu);
        n             = st->note_head;
        st->note_head = st->note_tail = NULL;
        pthread_mutex_unlock(&st->mu);
        return n;
}

void rdkp_free_notes(rdkp_note *n) {
        while (n) {
                rdkp_note *next = n->next;
                free(n->tag);
                free(n->text);
                free(n);
                n = next;
        }
}

rdkp_ack *rdkp_take_acks(rdkp_state *st) {
        rdkp_ack *a;
        pthread_mutex_lock(&st->mu);
        a            = st->ack_head;
        st->ack_head = st->ack_tail = NULL;
        pthread_mutex_unlock(&st->mu);
        return a;
}

void rdkp_free_acks(rdkp_ack *a) {
        while (a) {
                rdkp_ack *next = a->next;
                free(a->errstr);
                free(a);
                a = next;
        }
}

int32_t rdkp_produce1(rd_kafka_t *rk, const char *topic, int32_t partition, const char *key, int64_t key_len,
                      const char *value, int64_t val_len, int64_t timestamp, const rdkb_hdr *hdrs,
                      int32_t hdr_cnt, const char *arena, uint64_t opaque) {
        rd_kafka_headers_t *hs = NULL;
        rd_kafka_resp_err_t e;
        if (hdr_cnt > 0) {
                int32_t j;
                hs = rd_kafka_headers_new((size_t)hdr_cnt);
                for (j = 0; j < hdr_cnt; j++) {
                        const rdkb_hdr *h = &hdrs[j];
                        rd_kafka_header_add(hs, arena + h->key_off, (ssize_t)h->key_len,
                                            h->val_len < 0 ? NULL : arena + h->val_off,
                                            h->val_len < 0 ? 0 : (ssize_t)h->val_len);
                }
        }
        e = rd_kafka_producev(rk, RDKP_V_TOPIC, topic, RDKP_V_PARTITION, partition, RDKP_V_MSGFLAGS,
                              (int)RDKP_MSG_F_COPY, RDKP_V_VALUE, (void *)(val_len < 0 ? NULL : value),
                              (size_t)(val_len < 0 ? 0 : val_len), RDKP_V_KEY,
                              (void *)(key_len < 0 ? NULL : key), (size_t)(key_len < 0 ? 0 : key_len),
                              RDKP_V_TIMESTAMP, timestamp, RDKP_V_OPAQUE, (void *)(uintptr_t)opaque,
                              RDKP_V_HEADERS, hs, RDKP_V_END);
        if (e != 0 && hs)
                rd_kafka_headers_destroy(hs);
        return e;
}

int32_t rdkp_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, int32_t *err) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt              = rd_kafka_topic_new(rk, topic, NULL);
        int32_t n                          = -1;
        if (!rkt) {
                *err = rd_kafka_last_error();
                return -1;
        }
        *err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
        if (*err == 0 && md) {
                int i;
                for (i = 0; i < md->topic_cnt; i++) {
                        if (strcmp(md->topics[i].topic, topic) == 0) {
                                *err = md->topics[i].err;
                                n    = md->topics[i].partition_cnt;
                        }
                }
                if (n < 0 && *err == 0)
                        *err = 3; /* UNKNOWN_TOPIC_OR_PART */
        }
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return n;
}

rd_kafka_error_t *rdkp_send_offsets(rd_kafka_t *rk, rd_kafka_t *consumer, const char **topics,
                                    const int32_t *partitions, const int64_t *offsets, int n, int timeout_ms) {
        rd_kafka_topic_partition_list_t *l        = rd_kafka_topic_partition_list_new(n);
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(consumer);
        rd_kafka_error_t *e;
        int i;
        for (i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(l, topics[i], partitions[i])->offset = offsets[i];
        e = rd_kafka_send_offsets_to_transaction(rk, l, cgmd, timeout_ms);
        if (cgmd)
                rd_kafka_consumer_group_metadata_destroy(cgmd);
        rd_kafka_topic_partition_list_destroy(l);
        return e;
}

void rdkp_destroy(rdkp_state *st) {
        int64_t i;
        rd_kafka_queue_destroy(st->mainq);
        rd_kafka_destroy(st->rk);
        for (i = 0; i < st->tp_cap; i++)
                free(st->tps[i].topic);
        free(st->tps);
        rdkp_free_failures(st->fail_head);
        rdkp_free_notes(st->note_head);
        rdkp_free_acks(st->ack_head);
        pthread_mutex_destroy(&st->mu);
        free(st);
}
