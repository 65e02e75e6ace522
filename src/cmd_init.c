/* cmd_init.c - placeholder until the subcommand lands. */
#include "commands.h"
#include "log.h"

int cmd_init(int argc, char **argv)
{
    log_error("not implemented yet");
    return 1;
}
