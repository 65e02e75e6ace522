/* cmd_produce.c - placeholder until the subcommand lands. */
#include "commands.h"
#include "log.h"

int cmd_produce(int argc, char **argv)
{
    log_error("not implemented yet");
    return 1;
}
