/* h5util.h - what the HDF5 modules (h5snap.c, h5archive.c, h5results.c,
 * h5cols.c) share: silencing HDF5's own error printing, turning its error
 * stack into one line, writing and reading scalar attributes, checking that
 * a path is a readable HDF5 file, agreeing on the outcome of a collective
 * step, large buffers, and publishing a finished file. */
#ifndef BS_H5UTIL_H
#define BS_H5UTIL_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* Stop HDF5 from printing its error stack; modules report errors themselves. */
void h5util_quiet(void);

/* The innermost message of HDF5's error stack (which is then cleared), in
 * buf; "HDF5 error" when the stack is empty. Returns buf. */
const char *h5util_reason(char *buf, size_t size);

/* printf into errstr (when errstr and errsize are set). */
void h5util_err(char *errstr, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Create a scalar attribute `name` on obj of file type ftype from v (memory
 * type mtype). Returns 0 or -1. */
int h5util_attr_write(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v);
int h5util_attr_i32(hid_t obj, const char *name, int32_t v);
int h5util_attr_i64(hid_t obj, const char *name, int64_t v);
int h5util_attr_u64(hid_t obj, const char *name, uint64_t v);
/* A fixed-length, NUL-terminated UTF-8 string attribute. */
int h5util_attr_str(hid_t obj, const char *name, const char *s);
/* The creation time us (µs since the epoch) as attributes created_unix_us
 * (int64) and created_iso ("2025-06-20T14:03:11.123456Z"). Returns 0 or -1. */
int h5util_attr_created(hid_t obj, int64_t us);

/* Read the scalar attribute `name` of loc (the object `obj` of file `path`,
 * for messages): an integer, converted to mtype, into out; or a string,
 * fixed or variable length, into buf[size], truncated. `kind` is what the
 * file should be ("a bankstream snapshot"). Return 0 (1 when absent and
 * `optional`), or -1 with errstr naming path, obj and name, and saying
 * whether the attribute is missing, of the wrong class or shape, or
 * unreadable (with HDF5's reason). */
int h5util_attr_read_int(hid_t loc, const char *path, const char *obj, const char *name,
                         const char *kind, int optional, hid_t mtype, void *out, char *errstr,
                         size_t errsize);
int h5util_attr_read_str(hid_t loc, const char *path, const char *obj, const char *name,
                         const char *kind, char *buf, size_t size, char *errstr, size_t errsize);

/* The spaces for a transfer of rows [first, first + count) of dset, each
 * row `width` elements (a 2-D dataset when width > 1): *fspace with those
 * rows selected, *mspace holding exactly them; with count 0 both select
 * nothing, so that a rank can take part in a collective transfer empty.
 * Returns 0, or -1 with nothing left open. The caller closes both. */
int h5util_select_rows(hid_t dset, int64_t first, int64_t count, hsize_t width, hid_t *fspace,
                       hid_t *mspace);

/* Before any collective open: path exists, is a regular readable file and
 * carries the HDF5 signature. Returns 0, or -1 with errstr naming the file. */
int h5util_precheck(const char *path, char *errstr, size_t errsize);

/* Collective over comm: every rank learns whether any rank failed (rc != 0)
 * and gets the message of the lowest failing rank in errstr. `step` names
 * the step in the message of a failed MPI call ("an archive step"). Waits
 * without spinning (exchange_wait), so a rank waiting for a slower one
 * leaves it the CPU; one rank costs nothing. With rc 0 everywhere and
 * errstr NULL it is a barrier. Returns 0 or -1. */
int h5util_agree(MPI_Comm comm, int rc, const char *step, char *errstr, size_t errsize);

/* Collective over comm: broadcast buf[0..n) from rank 0, waiting without
 * spinning as h5util_agree does. Returns 0, or -1 when MPI failed. */
int h5util_bcast(MPI_Comm comm, void *buf, size_t n);

/* malloc for large buffers filled once: from 4 MiB, 2 MiB-aligned and
 * marked for transparent huge pages, which cuts page faults 512-fold
 * (measured: reading 10M users on one rank spent most of its time faulting
 * in the 800 MB array). Free with free(). NULL when out of memory. */
void *h5util_big_alloc(size_t bytes);

/* Publish a finished file: close fid (unless H5I_INVALID_HID: the caller
 * closed it, as the collective writers do on every rank before rank 0
 * publishes), fsync `partial`, rename it over `final`, fsync the directory
 * of `final`. One process calls it. Returns 0, or -1 with errstr; the
 * .partial is then left to the caller to remove, and `final` is untouched
 * unless only the directory's fsync failed (after the rename). */
int h5util_publish(hid_t fid, const char *partial, const char *final, char *errstr, size_t errsize);

#endif
