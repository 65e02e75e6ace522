/* test_commitq.c - the commit queue (stream/commitq.h) with a sink that
 * writes batches ahead (stream/sink.h's ahead and forget).
 *
 * Why: the pipelined PostgreSQL sink writes the batch next in line while
 * the batch before it commits; the queue decides which batch that is, when
 * the cutter may cut another one (commitq_idle), and must tell the sink to
 * drop a batch written ahead before it frees it (else the sink's thread
 * would read a freed batch). The stream tests reach this only through a
 * database, at timings they cannot choose.
 *
 * The sink here is this test's own: its commit blocks while the test holds
 * it, and it records every call. Checked: a batch queued while the sink
 * commits, next in line, is handed ahead, and only while the sink has room;
 * commits stay in order; the queue is idle for the cutter while the sink
 * commits only when the sink has room ahead (and never for a sink without
 * ahead); a batch that becomes next in line when the sink thread takes the
 * one before it is handed ahead then; a failed commit makes the queue drop
 * the batch written ahead, calling forget once (ASan sees any use after
 * free). */
#include "stream/commitq.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define MAXB 16

typedef struct test_sink {
    stream_sink_t base;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t hold;    /* commit of this batch id waits until hold changes */
    int64_t fail;    /* commit of this batch id fails */
    int room;        /* ahead would take a batch */
    int64_t started; /* the last batch whose commit started */
    int64_t committed[MAXB], ahead[MAXB];
    int ncommitted, nahead, forgot;
    const batch_t *held_ahead; /* the batch taken ahead, until its commit or forget */
} test_sink_t;

static int sink_commit(stream_sink_t *base, const batch_t *b, char *errstr, size_t errsize)
{
    test_sink_t *s = (test_sink_t *)base;
    pthread_mutex_lock(&s->mu);
    s->started = b->id;
    pthread_cond_broadcast(&s->cv);
    while (s->hold == b->id)
        pthread_cond_wait(&s->cv, &s->mu);
    if (s->held_ahead == b) { /* its turn: the room ahead is free again */
        s->held_ahead = NULL;
        s->room = 1;
    }
    int rc = b->id == s->fail ? -1 : 0;
    if (rc == 0) s->committed[s->ncommitted++] = b->id;
    pthread_mutex_unlock(&s->mu);
    if (rc) snprintf(errstr, errsize, "test: batch %lld fails", (long long)b->id);
    return rc;
}

static int sink_ahead(stream_sink_t *base, const batch_t *b)
{
    test_sink_t *s = (test_sink_t *)base;
    pthread_mutex_lock(&s->mu);
    int taken = s->room;
    if (b && taken) {
        s->ahead[s->nahead++] = b->id;
        s->held_ahead = b;
        s->room = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return taken;
}

static void sink_forget(stream_sink_t *base)
{
    test_sink_t *s = (test_sink_t *)base;
    pthread_mutex_lock(&s->mu);
    if (s->held_ahead) s->held_ahead->arena[0] = 'x'; /* touches it: ASan sees a freed batch */
    s->held_ahead = NULL;
    s->forgot++;
    s->room = 1;
    pthread_mutex_unlock(&s->mu);
}

static void sink_close_test(stream_sink_t *base)
{
    (void)base;
}

static void sink_init(test_sink_t *s, int with_ahead)
{
    memset(s, 0, sizeof *s);
    s->base = (stream_sink_t){"test", 0, sink_commit, sink_close_test, NULL, NULL};
    if (with_ahead) {
        s->base.ahead = sink_ahead;
        s->base.forget = sink_forget;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->hold = s->fail = -1;
    s->room = 1;
}

static void set_hold(test_sink_t *s, int64_t id)
{
    pthread_mutex_lock(&s->mu);
    s->hold = id;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Wait (at most 10 s) until the commit of batch id has started. */
static void wait_started(test_sink_t *s, int64_t id)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&s->mu);
    while (s->started != id)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0) break;
    int64_t started = s->started;
    pthread_mutex_unlock(&s->mu);
    assert_int_equal(started, id);
}

static batch_t *decided_batch(int64_t id)
{
    batch_t *b = batch_new(1);
    assert_non_null(b);
    uint32_t off;
    assert_int_equal(batch_arena_put(b, "payload", 7, &off), 0);
    b->id = id;
    batch_enter(b, BATCH_CUT);
    batch_enter(b, BATCH_DECIDED);
    batch_enter(b, BATCH_ARCHIVED);
    return b;
}

static commitq_t *start(test_sink_t *s)
{
    char err[256];
    commitq_hooks_t hooks = {NULL, NULL, NULL};
    commitq_t *q = commitq_start(&s->base, 8, &hooks, err, sizeof err);
    assert_non_null(q);
    return q;
}

static void test_next_in_line_goes_ahead(void **state)
{
    (void)state;
    test_sink_t s;
    sink_init(&s, 1);
    commitq_t *q = start(&s);
    assert_int_equal(commitq_idle(q), 1);
    set_hold(&s, 1);
    assert_int_equal(commitq_submit(q, decided_batch(1)), 0);
    wait_started(&s, 1);
    /* batch 1 commits; the sink has room ahead: the cutter may cut */
    assert_int_equal(commitq_idle(q), 1);
    assert_int_equal(commitq_submit(q, decided_batch(2)), 0);
    /* batch 2 is written ahead; no room for another */
    assert_int_equal(commitq_idle(q), 0);
    assert_int_equal(commitq_submit(q, decided_batch(3)), 0);
    set_hold(&s, -1);
    assert_int_equal(commitq_drain(q), 0);
    assert_int_equal(commitq_idle(q), 1);
    commitq_stop(q);
    assert_int_equal(s.ncommitted, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s.committed[i], i + 1);
    assert_int_equal(s.nahead, 1); /* batch 1 found the sink idle; 3 found no room */
    assert_int_equal(s.ahead[0], 2);
    assert_int_equal(s.forgot, 0);
}

static void test_offered_when_it_becomes_next(void **state)
{
    (void)state;
    test_sink_t s;
    sink_init(&s, 1);
    s.room = 0; /* the sink's ahead session is busy at first */
    commitq_t *q = start(&s);
    set_hold(&s, 1);
    assert_int_equal(commitq_submit(q, decided_batch(1)), 0);
    wait_started(&s, 1);
    assert_int_equal(commitq_submit(q, decided_batch(2)), 0);
    assert_int_equal(commitq_submit(q, decided_batch(3)), 0);
    assert_int_equal(s.nahead, 0);
    /* room again; batch 2 commits alone (held), which makes 3 next in line */
    pthread_mutex_lock(&s.mu);
    s.room = 1;
    s.hold = 2;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    wait_started(&s, 2);
    pthread_mutex_lock(&s.mu);
    int nahead = s.nahead;
    int64_t first = s.ahead[0];
    pthread_mutex_unlock(&s.mu);
    assert_int_equal(nahead, 1);
    assert_int_equal(first, 3);
    set_hold(&s, -1);
    assert_int_equal(commitq_drain(q), 0);
    commitq_stop(q);
    assert_int_equal(s.ncommitted, 3);
    assert_int_equal(s.committed[2], 3);
}

static void test_failure_forgets_the_batch_ahead(void **state)
{
    (void)state;
    test_sink_t s;
    sink_init(&s, 1);
    s.fail = 1;
    commitq_t *q = start(&s);
    set_hold(&s, 1);
    assert_int_equal(commitq_submit(q, decided_batch(1)), 0);
    wait_started(&s, 1);
    assert_int_equal(commitq_submit(q, decided_batch(2)), 0);
    assert_int_equal(s.nahead, 1);
    set_hold(&s, -1);
    assert_int_equal(commitq_drain(q), -1);
    char err[1200];
    assert_int_equal(commitq_failed(q, err, sizeof err), 1);
    assert_non_null(strstr(err, "batch 1 not committed: test: batch 1 fails"));
    commitq_stop(q);
    assert_int_equal(s.ncommitted, 0);
    assert_int_equal(s.forgot, 1);
    assert_null(s.held_ahead);
}

static void test_no_ahead_no_idle_while_busy(void **state)
{
    (void)state;
    test_sink_t s;
    sink_init(&s, 0);
    commitq_t *q = start(&s);
    set_hold(&s, 1);
    assert_int_equal(commitq_submit(q, decided_batch(1)), 0);
    wait_started(&s, 1);
    assert_int_equal(commitq_idle(q), 0);
    set_hold(&s, -1);
    assert_int_equal(commitq_drain(q), 0);
    assert_int_equal(commitq_idle(q), 1);
    commitq_stop(q);
    assert_int_equal(s.ncommitted, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_in_line_goes_ahead),
        cmocka_unit_test(test_offered_when_it_becomes_next),
        cmocka_unit_test(test_failure_forgets_the_batch_ahead),
        cmocka_unit_test(test_no_ahead_no_idle_while_busy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
