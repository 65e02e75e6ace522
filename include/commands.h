/* commands.h - entry points of the bankstream subcommands (git style).
 *
 * Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status: 0 success, 1 failure at
 * run time, 2 bad usage. */
#ifndef BS_COMMANDS_H
#define BS_COMMANDS_H

int cmd_broker(int argc, char **argv);    /* cmd_broker.c: embedded Kafka-protocol broker */
int cmd_db(int argc, char **argv);        /* cmd_db.c: embedded PostgreSQL cluster */
int cmd_init(int argc, char **argv);      /* cmd_init.c: schema and reference data */
int cmd_produce(int argc, char **argv);   /* cmd_produce.c: transaction generator */
int cmd_run(int argc, char **argv);       /* cmd_run.c: the MPI micro-batch processor */
int cmd_replay(int argc, char **argv);    /* cmd_replay.c: batch replay of HDF5 archives */
int cmd_snapshot(int argc, char **argv);  /* cmd_snapshot.c: list and show HDF5 snapshots */
int cmd_dashboard(int argc, char **argv); /* dashboard/cmd_dashboard.c: the web dashboard */
int cmd_version(int argc, char **argv);   /* tools/version.c: versions built with and running */

#endif
