/* cmd_run.c - placeholder until the subcommand lands. */
#include "commands.h"
#include "log.h"

int cmd_run(int argc, char **argv)
{
    log_error("not implemented yet");
    return 1;
}
