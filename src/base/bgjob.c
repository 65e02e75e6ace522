/* bgjob.c - one job at a time on a second thread (see bgjob.h).
 *
 * The thread sleeps on `wake` until a job is posted (state SUBMITTED), runs
 * it (RUNNING), posts the result (DONE) and signals `done`. The caller's
 * bgjob_wait sleeps on `done` until DONE, then the runner is IDLE again.
 * Nothing spins: the ranks share their cores with other processes. */
#include "base/bgjob.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

enum { IDLE, SUBMITTED, RUNNING, DONE, STOPPING };

struct bgjob {
    int threaded;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    int state;
    int (*fn)(void *);
    void *arg;
    int result;
    double seconds;
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run(bgjob_t *j)
{
    double t0 = now_seconds();
    j->result = j->fn(j->arg);
    j->seconds = now_seconds() - t0;
}

static void *thread_main(void *arg)
{
    bgjob_t *j = arg;
    pthread_mutex_lock(&j->lock);
    for (;;) {
        while (j->state != SUBMITTED && j->state != STOPPING)
            pthread_cond_wait(&j->wake, &j->lock);
        if (j->state == STOPPING) break;
        j->state = RUNNING;
        pthread_mutex_unlock(&j->lock);
        run(j);
        pthread_mutex_lock(&j->lock);
        j->state = DONE;
        pthread_cond_signal(&j->done);
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

bgjob_t *bgjob_start(int threaded)
{
    bgjob_t *j = calloc(1, sizeof *j);
    if (j == NULL) return NULL;
    j->state = IDLE;
    if (!threaded) return j;
    if (pthread_mutex_init(&j->lock, NULL) != 0) return j;
    if (pthread_cond_init(&j->wake, NULL) != 0) goto no_wake;
    if (pthread_cond_init(&j->done, NULL) != 0) goto no_done;
    if (pthread_create(&j->thread, NULL, thread_main, j) != 0) goto no_thread;
    j->threaded = 1;
    return j;
no_thread:
    pthread_cond_destroy(&j->done);
no_done:
    pthread_cond_destroy(&j->wake);
no_wake:
    pthread_mutex_destroy(&j->lock);
    return j; /* inline: slower, but the same results */
}

int bgjob_threaded(const bgjob_t *j)
{
    return j->threaded;
}

void bgjob_submit(bgjob_t *j, int (*fn)(void *arg), void *arg)
{
    j->fn = fn;
    j->arg = arg;
    if (!j->threaded) {
        run(j);
        j->state = DONE;
        return;
    }
    pthread_mutex_lock(&j->lock);
    j->state = SUBMITTED;
    pthread_cond_signal(&j->wake);
    pthread_mutex_unlock(&j->lock);
}

int bgjob_wait(bgjob_t *j, double *run_seconds)
{
    if (j->threaded) {
        pthread_mutex_lock(&j->lock);
        while (j->state == SUBMITTED || j->state == RUNNING)
            pthread_cond_wait(&j->done, &j->lock);
        pthread_mutex_unlock(&j->lock);
    }
    j->state = IDLE;
    if (run_seconds) *run_seconds = j->seconds;
    return j->result;
}

void bgjob_stop(bgjob_t *j)
{
    if (j == NULL) return;
    if (j->threaded) {
        pthread_mutex_lock(&j->lock);
        while (j->state == SUBMITTED || j->state == RUNNING)
            pthread_cond_wait(&j->done, &j->lock);
        j->state = STOPPING;
        pthread_cond_signal(&j->wake);
        pthread_mutex_unlock(&j->lock);
        pthread_join(j->thread, NULL);
        pthread_cond_destroy(&j->done);
        pthread_cond_destroy(&j->wake);
        pthread_mutex_destroy(&j->lock);
    }
    free(j);
}
