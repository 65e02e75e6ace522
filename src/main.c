/* main.c - dispatch "bankstream <subcommand> ..." to its entry point. */
#include "commands.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"broker", cmd_broker, "serve the Kafka protocol on 127.0.0.1 (embedded broker)"},
    {"db", cmd_db, "start, stop or query the embedded PostgreSQL cluster"},
    {"init", cmd_init, "create the schema and load the reference data"},
    {"produce", cmd_produce, "generate transactions into a Kafka topic"},
    {"run", cmd_run, "process the topic in micro-batches (under mpirun)"},
    {"replay", cmd_replay, "replay HDF5 transaction archives in batch mode (under mpirun)"},
    {"snapshot", cmd_snapshot, "list or show HDF5 state snapshots"},
    {"dashboard", cmd_dashboard, "serve the web dashboard (live results, analyses, health, topic)"},
    {"version", cmd_version, "print the version and the library versions (also --version)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: bankstream <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'bankstream <command> --help' describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    static char version_cmd[] = "version";
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) argv[1] = version_cmd;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            log_set_command(commands[i].name);
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr,
            "bankstream: error: unknown command '%s'; run 'bankstream --help' for the list\n",
            argv[1]);
    return 2;
}
