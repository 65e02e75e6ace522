/* cmd_db.c - placeholder until the subcommand lands. */
#include "commands.h"
#include "log.h"

int cmd_db(int argc, char **argv)
{
    log_error("not implemented yet");
    return 1;
}
