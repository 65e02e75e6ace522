/* h5util.c - HDF5 error-stack helpers shared by the snapshot and archive code. */
#include "h5util.h"

#include <hdf5.h>
#include <stdio.h>

void h5util_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

typedef struct reason_walk {
    char *buf;
    size_t size;
} reason_walk_t;

static herr_t reason_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    reason_walk_t *w = data;
    if (n == 0 && e->desc && e->desc[0]) snprintf(w->buf, w->size, "%s", e->desc);
    return 0;
}

const char *h5util_reason(char *buf, size_t size)
{
    reason_walk_t w = {buf, size};
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, reason_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    if (!buf[0]) snprintf(buf, size, "HDF5 error");
    return buf;
}
