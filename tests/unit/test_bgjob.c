/* test_bgjob.c - the one-job runner replay reads on (bgjob.h).
 *
 * Checked: an inline runner runs the job inside submit, on the caller's
 * thread; a threaded runner runs it on another thread and submit returns
 * while the job is still blocked (the job waits for the test to release it,
 * with a timeout, so a runner that ran it inline fails instead of hanging);
 * results and run times come back from wait; many jobs in turn each run
 * once; stop waits for a job still running. */
#include "base/bgjob.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct probe {
    pthread_t ran_on;
    int value;       /* returned by the job */
    atomic_int runs; /* times the job ran */
    atomic_int finished;
    sem_t release;  /* posted by the test: the job may finish */
    int blocking;   /* the job waits (up to 5 s) for release */
    useconds_t nap; /* the job sleeps this long before finishing */
} probe_t;

static int job(void *arg)
{
    probe_t *p = arg;
    p->ran_on = pthread_self();
    atomic_fetch_add(&p->runs, 1);
    if (p->blocking) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        int rc;
        while ((rc = sem_timedwait(&p->release, &until)) != 0 && errno == EINTR)
            ;
        if (rc != 0) return -1; /* never released: submit did not return */
    }
    if (p->nap) usleep(p->nap);
    atomic_store(&p->finished, 1);
    return p->value;
}

static void probe_init(probe_t *p, int value)
{
    p->value = value;
    atomic_init(&p->runs, 0);
    atomic_init(&p->finished, 0);
    p->blocking = 0;
    p->nap = 0;
    assert_int_equal(sem_init(&p->release, 0, 0), 0);
}

static void inline_runner_runs_inside_submit(void **state)
{
    (void)state;
    bgjob_t *j = bgjob_start(0);
    assert_non_null(j);
    assert_int_equal(bgjob_threaded(j), 0);
    probe_t p;
    probe_init(&p, 42);
    bgjob_submit(j, job, &p);
    assert_int_equal(atomic_load(&p.finished), 1); /* done before submit returned */
    assert_true(pthread_equal(p.ran_on, pthread_self()));
    double secs = -1;
    assert_int_equal(bgjob_wait(j, &secs), 42);
    assert_true(secs >= 0);
    assert_int_equal(atomic_load(&p.runs), 1);
    bgjob_stop(j);
    sem_destroy(&p.release);
}

static void threaded_runner_runs_while_the_caller_goes_on(void **state)
{
    (void)state;
    bgjob_t *j = bgjob_start(1);
    assert_non_null(j);
    assert_int_equal(bgjob_threaded(j), 1);
    probe_t p;
    probe_init(&p, 7);
    p.blocking = 1;
    p.nap = 20000;
    bgjob_submit(j, job, &p);
    assert_int_equal(atomic_load(&p.finished), 0); /* still blocked on release */
    assert_int_equal(sem_post(&p.release), 0);
    double secs = 0;
    assert_int_equal(bgjob_wait(j, &secs), 7);
    assert_int_equal(atomic_load(&p.finished), 1);
    assert_false(pthread_equal(p.ran_on, pthread_self()));
    assert_true(secs >= 0.015); /* the job's own time, nap included */
    bgjob_stop(j);
    sem_destroy(&p.release);
}

static void jobs_in_turn_each_run_once(void **state)
{
    (void)state;
    for (int threaded = 0; threaded < 2; threaded++) {
        bgjob_t *j = bgjob_start(threaded);
        assert_non_null(j);
        probe_t p;
        probe_init(&p, 0);
        for (int k = 0; k < 200; k++) {
            p.value = k;
            bgjob_submit(j, job, &p);
            assert_int_equal(bgjob_wait(j, NULL), k);
            assert_int_equal(atomic_load(&p.runs), k + 1);
        }
        bgjob_stop(j);
        sem_destroy(&p.release);
    }
}

static void stop_waits_for_a_running_job(void **state)
{
    (void)state;
    bgjob_t *j = bgjob_start(1);
    assert_non_null(j);
    probe_t p;
    probe_init(&p, 1);
    p.nap = 50000;
    bgjob_submit(j, job, &p);
    bgjob_stop(j); /* no wait: stop must let the job finish first */
    assert_int_equal(atomic_load(&p.finished), 1);
    assert_int_equal(atomic_load(&p.runs), 1);
    sem_destroy(&p.release);
    bgjob_stop(NULL); /* NULL-safe */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inline_runner_runs_inside_submit),
        cmocka_unit_test(threaded_runner_runs_while_the_caller_goes_on),
        cmocka_unit_test(jobs_in_turn_each_run_once),
        cmocka_unit_test(stop_waits_for_a_running_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
