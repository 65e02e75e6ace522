/* sink.c - the sink that writes nothing (see sink.h), and closing any sink. */
#include "stream/sink.h"

static int none_commit(stream_sink_t *s, const batch_t *b, char *errstr, size_t errsize)
{
    return 0;
}

static void none_close(stream_sink_t *s) {}

stream_sink_t *sink_none(void)
{
    static stream_sink_t none = {"none", 0, none_commit, none_close, NULL, NULL};
    return &none;
}

void sink_close(stream_sink_t *s)
{
    if (s) s->close(s);
}
