/* stop.h - the process's request to stop: set by SIGINT, SIGTERM or
 * SIGUSR1 (mpirun forwards USR1 as is; Slurm's --signal sends it), read by
 * every loop that waits (rank 0's processor acts on it; waits on the
 * network give up early on it). */
#ifndef BS_STOP_H
#define BS_STOP_H

#include <signal.h>

extern volatile sig_atomic_t stop_requested;

/* Install the handlers (SA_RESTART): call before MPI_Init, since a stop
 * signal may come at any time. */
void stop_install_signals(void);

#endif
