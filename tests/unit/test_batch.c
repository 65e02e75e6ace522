/* test_batch.c - the batch state machine and counts (stream/batch.h).
 *
 * Why: the lifecycle CUT -> DECIDED -> ARCHIVED -> QUEUED -> COMMITTED ->
 * ACKED is what keeps a batch from being committed before it is decided or
 * acknowledged to Kafka before it is committed; batch_enter must refuse
 * every transition the diagram does not have, loudly (abort), since such a
 * transition is a bug that would otherwise break exactly-once quietly.
 *
 * Checked: the one legal path from a new batch to ACKED, with the names of
 * the states; every illegal transition (skipping a state, going back,
 * staying, entering from a new batch anything but CUT) aborts the process
 * (each tried in a forked child) with a message naming both states;
 * batch_count counts messages, statuses, reasons, duplicates and dead
 * letters; the arena returns offsets of what was put. */
#include "stream/batch.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static void test_legal_path(void **state)
{
    batch_t *b = batch_new(4);
    assert_non_null(b);
    assert_int_equal(b->nparts, 4);
    assert_int_equal(b->state, 0);
    static const enum batch_state path[] = {BATCH_CUT,    BATCH_DECIDED,   BATCH_ARCHIVED,
                                            BATCH_QUEUED, BATCH_COMMITTED, BATCH_ACKED};
    static const char *const names[] = {"CUT",    "DECIDED",   "ARCHIVED",
                                        "QUEUED", "COMMITTED", "ACKED"};
    for (size_t i = 0; i < sizeof path / sizeof path[0]; i++) {
        batch_enter(b, path[i]);
        assert_int_equal(b->state, path[i]);
        assert_string_equal(batch_state_name(path[i]), names[i]);
    }
    batch_free(b);
}

/* In a child: bring a batch to `from` (0 = new), then enter `to`. Returns
 * the signal that ended the child (0 if it exited), with its stderr. */
static int try_transition(int from, int to, char *err, size_t errsize)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        batch_t *b = batch_new(1);
        b->id = 42;
        for (int s = BATCH_CUT; s <= from; s++)
            batch_enter(b, (enum batch_state)s);
        batch_enter(b, (enum batch_state)to);
        _exit(0);
    }
    close(fds[1]);
    ssize_t n, got = 0;
    while ((n = read(fds[0], err + got, errsize - 1 - (size_t)got)) > 0)
        got += n;
    err[got] = 0;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static void test_illegal_transitions_abort(void **state)
{
    int tried = 0;
    for (int from = 0; from <= BATCH_ACKED; from++)
        for (int to = BATCH_CUT; to <= BATCH_ACKED; to++) {
            if (to == from + 1) continue; /* the legal one */
            char err[1024];
            int sig = try_transition(from, to, err, sizeof err);
            if (sig != SIGABRT)
                fail_msg("%s -> %s was not refused (signal %d)",
                         batch_state_name((enum batch_state)from),
                         batch_state_name((enum batch_state)to), sig);
            if (strstr(err, "batch 42") == NULL ||
                strstr(err, batch_state_name((enum batch_state)to)) == NULL ||
                strstr(err, batch_state_name((enum batch_state)from)) == NULL)
                fail_msg("message does not name the batch and both states: %s", err);
            tried++;
        }
    assert_int_equal(tried, 7 * 6 - 6);
    /* and the legal ones, in a child as well, end normally */
    char err[256];
    assert_int_equal(try_transition(0, BATCH_CUT, err, sizeof err), 0);
    assert_int_equal(try_transition(BATCH_COMMITTED, BATCH_ACKED, err, sizeof err), 0);
}

static void test_count(void **state)
{
    batch_t *b = batch_new(2);
    assert_non_null(b);
    static const struct {
        uint8_t kind, status, reason;
    } rows[] = {
        {ROW_TXN, STATUS_APPROVED, REASON_NONE},
        {ROW_TXN, STATUS_APPROVED, REASON_NONE},
        {ROW_TXN, STATUS_REJECTED, REASON_INSUFFICIENT_FUNDS},
        {ROW_TXN, STATUS_REJECTED, REASON_RISK},
        {ROW_TXN, STATUS_NOT_PROCESSED, REASON_OLDER_THAN_LAST},
        {ROW_DUPLICATE, STATUS_NONE, REASON_NONE},
        {ROW_DEAD, STATUS_NONE, REASON_NONE},
        {ROW_DEAD, STATUS_NONE, REASON_NONE},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        batch_row_t *r = batch_add_row(b);
        assert_non_null(r);
        r->kind = rows[i].kind;
        r->rec.status = rows[i].status;
        r->rec.reason = rows[i].reason;
    }
    /* many more rows than the first allocation */
    for (int i = 0; i < 10000; i++) {
        batch_row_t *r = batch_add_row(b);
        assert_non_null(r);
        assert_int_equal(r->kind, 0); /* zeroed */
        r->rec.status = STATUS_REJECTED;
        r->rec.reason = REASON_OVER_LIMIT;
    }
    batch_count(b);
    const batch_counts_t *c = &b->counts;
    assert_int_equal(c->messages, 10008);
    assert_int_equal(c->by_status[STATUS_APPROVED], 2);
    assert_int_equal(c->by_status[STATUS_REJECTED], 10002);
    assert_int_equal(c->by_status[STATUS_NOT_PROCESSED], 1);
    assert_int_equal(c->by_reason[REASON_NONE], 2);
    assert_int_equal(c->by_reason[REASON_INSUFFICIENT_FUNDS], 1);
    assert_int_equal(c->by_reason[REASON_RISK], 1);
    assert_int_equal(c->by_reason[REASON_OVER_LIMIT], 10000);
    assert_int_equal(c->by_reason[REASON_OLDER_THAN_LAST], 1);
    assert_int_equal(c->duplicates, 1);
    assert_int_equal(c->dead, 2);
    batch_count(b); /* counting again gives the same, not twice as much */
    assert_int_equal(c->messages, 10008);
    assert_int_equal(c->dead, 2);

    uint32_t off1, off2, off3;
    assert_int_equal(batch_arena_put(b, "hello", 5, &off1), 0);
    assert_int_equal(batch_arena_put(b, "", 0, &off2), 0);
    char big[100000];
    memset(big, 'x', sizeof big);
    assert_int_equal(batch_arena_put(b, big, sizeof big, &off3), 0);
    assert_int_equal(off1, 0);
    assert_int_equal(off2, 5);
    assert_int_equal(off3, 5);
    assert_memory_equal(b->arena + off1, "hello", 5);
    assert_memory_equal(b->arena + off3, big, sizeof big);
    batch_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legal_path),
        cmocka_unit_test(test_illegal_transitions_abort),
        cmocka_unit_test(test_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
