/* bgjob.h - one job at a time on a second thread, so that the caller can work
 * while it runs (replay reads the next window while it decides this one).
 *
 * A runner made with threaded = 0 (or whose thread could not be started) runs
 * each job inline, inside bgjob_submit: the caller's code is the same either
 * way. The job must not touch what the caller uses until bgjob_wait returns. */
#ifndef BS_BGJOB_H
#define BS_BGJOB_H

typedef struct bgjob bgjob_t;

/* A runner, or NULL when out of memory. */
bgjob_t *bgjob_start(int threaded);

/* 1 when jobs run on the second thread, 0 when they run inline. */
int bgjob_threaded(const bgjob_t *j);

/* Run fn(arg). Only one job at a time: bgjob_wait before the next submit. */
void bgjob_submit(bgjob_t *j, int (*fn)(void *arg), void *arg);

/* Wait for the submitted job; returns what fn returned. *run_seconds (may be
 * NULL) gets the job's own running time. */
int bgjob_wait(bgjob_t *j, double *run_seconds);

/* Wait for any job still running, stop the thread, free. NULL-safe. */
void bgjob_stop(bgjob_t *j);

#endif
