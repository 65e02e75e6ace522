/* h5util.c - HDF5 helpers shared by the snapshot, archive, results and
 * column code (contracts in h5util.h). */
#include "h5/h5util.h"
#include "base/timeparse.h"
#include "engine/exchange.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

void h5util_err(char *errstr, size_t errsize, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errstr && errsize) vsnprintf(errstr, errsize, fmt, ap);
    va_end(ap);
}

int h5util_attr_write(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = space < 0 ? -1 : H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (attr >= 0 && H5Awrite(attr, mtype, v) >= 0) ? 0 : -1;
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    return rc;
}

int h5util_attr_i32(hid_t obj, const char *name, int32_t v)
{
    return h5util_attr_write(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &v);
}

int h5util_attr_i64(hid_t obj, const char *name, int64_t v)
{
    return h5util_attr_write(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

int h5util_attr_u64(hid_t obj, const char *name, uint64_t v)
{
    return h5util_attr_write(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

int h5util_attr_str(hid_t obj, const char *name, const char *s)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    int rc = -1;
    if (t >= 0 && H5Tset_size(t, strlen(s) + 1) >= 0 && H5Tset_strpad(t, H5T_STR_NULLTERM) >= 0 &&
        H5Tset_cset(t, H5T_CSET_UTF8) >= 0)
        rc = h5util_attr_write(obj, name, t, t, s);
    if (t >= 0) H5Tclose(t);
    return rc;
}

int h5util_attr_created(hid_t obj, int64_t us)
{
    char iso[40];
    timeparse_format_utc(us, iso, sizeof iso);
    return h5util_attr_i64(obj, "created_unix_us", us) < 0 ||
                   h5util_attr_str(obj, "created_iso", iso) < 0
               ? -1
               : 0;
}

/* Why a scalar attribute could not be read, in errstr. */
static void attr_fail(const char *path, const char *obj, const char *name, const char *kind,
                      int missing, int wrong_class, const char *expected, char *errstr,
                      size_t errsize)
{
    char why[256];
    if (missing)
        h5util_err(errstr, errsize, "%s: attribute %s of %s is missing: not %s, or a damaged one",
                   path, name, obj, kind);
    else if (wrong_class)
        h5util_err(errstr, errsize, "%s: attribute %s of %s is not %s: not %s", path, name, obj,
                   expected, kind);
    else
        h5util_err(errstr, errsize, "%s: cannot read attribute %s of %s: %s", path, name, obj,
                   h5util_reason(why, sizeof why));
}

/* Open the scalar attribute `name` of loc and check that it is of class
 * cls (`expected` names it in messages). Returns 0 with *attr and *type
 * open (the caller reads, then closes both), 1 when absent and `optional`,
 * or -1 with errstr and nothing open. */
static int attr_open_scalar(hid_t loc, const char *path, const char *obj, const char *name,
                            const char *kind, int optional, H5T_class_t cls, const char *expected,
                            hid_t *attr, hid_t *type, char *errstr, size_t errsize)
{
    htri_t ex = H5Aexists(loc, name);
    if (ex == 0 && optional) return 1;
    if (ex <= 0) {
        attr_fail(path, obj, name, kind, ex == 0, 0, NULL, errstr, errsize);
        return -1;
    }
    *attr = H5Aopen(loc, name, H5P_DEFAULT);
    *type = *attr >= 0 ? H5Aget_type(*attr) : -1;
    hid_t space = *attr >= 0 ? H5Aget_space(*attr) : -1;
    int opened = *type >= 0 && space >= 0;
    int fits = opened && H5Tget_class(*type) == cls && H5Sget_simple_extent_npoints(space) == 1;
    if (space >= 0) H5Sclose(space);
    if (fits) return 0;
    if (*type >= 0) H5Tclose(*type);
    if (*attr >= 0) H5Aclose(*attr);
    attr_fail(path, obj, name, kind, 0, opened, expected, errstr, errsize);
    return -1;
}

int h5util_attr_read_int(hid_t loc, const char *path, const char *obj, const char *name,
                         const char *kind, int optional, hid_t mtype, void *out, char *errstr,
                         size_t errsize)
{
    hid_t attr, type;
    int rc = attr_open_scalar(loc, path, obj, name, kind, optional, H5T_INTEGER,
                              "an integer scalar", &attr, &type, errstr, errsize);
    if (rc != 0) return rc;
    rc = H5Aread(attr, mtype, out) >= 0 ? 0 : -1;
    H5Tclose(type);
    H5Aclose(attr);
    if (rc) attr_fail(path, obj, name, kind, 0, 0, NULL, errstr, errsize);
    return rc;
}

int h5util_attr_read_str(hid_t loc, const char *path, const char *obj, const char *name,
                         const char *kind, char *buf, size_t size, char *errstr, size_t errsize)
{
    hid_t attr, type;
    if (attr_open_scalar(loc, path, obj, name, kind, 0, H5T_STRING, "a scalar string", &attr, &type,
                         errstr, errsize) != 0)
        return -1;
    hid_t mtype = H5Tcopy(type);
    int rc = -1;
    if (mtype >= 0 && H5Tis_variable_str(type) > 0) {
        char *s = NULL;
        if (H5Aread(attr, mtype, &s) >= 0 && s) {
            snprintf(buf, size, "%s", s);
            H5free_memory(s);
            rc = 0;
        }
    } else if (mtype >= 0) {
        size_t n = H5Tget_size(type);
        char *s = n ? calloc(1, n + 1) : NULL;
        if (s && H5Aread(attr, mtype, s) >= 0) {
            snprintf(buf, size, "%s", s);
            rc = 0;
        }
        free(s);
    }
    if (mtype >= 0) H5Tclose(mtype);
    H5Tclose(type);
    H5Aclose(attr);
    if (rc) attr_fail(path, obj, name, kind, 0, 0, NULL, errstr, errsize);
    return rc;
}

int h5util_select_rows(hid_t dset, int64_t first, int64_t count, hsize_t width, hid_t *fspace,
                       hid_t *mspace)
{
    hsize_t start[2] = {(hsize_t)first, 0}, n[2] = {(hsize_t)count, width};
    hsize_t mdims[2] = {count > 0 ? (hsize_t)count : 1, width};
    int rank = width > 1 ? 2 : 1;
    *fspace = H5Dget_space(dset);
    *mspace = H5Screate_simple(rank, mdims, NULL);
    int rc = *fspace >= 0 && *mspace >= 0 ? 0 : -1;
    if (rc == 0 && count > 0)
        rc = H5Sselect_hyperslab(*fspace, H5S_SELECT_SET, start, NULL, n, NULL) < 0 ? -1 : 0;
    else if (rc == 0)
        rc = H5Sselect_none(*fspace) < 0 || H5Sselect_none(*mspace) < 0 ? -1 : 0;
    if (rc == 0) return 0;
    if (*mspace >= 0) H5Sclose(*mspace);
    if (*fspace >= 0) H5Sclose(*fspace);
    *fspace = *mspace = H5I_INVALID_HID;
    return -1;
}

int h5util_precheck(const char *path, char *errstr, size_t errsize)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        h5util_err(errstr, errsize, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        h5util_err(errstr, errsize, "%s: not a regular file", path);
        return -1;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        h5util_err(errstr, errsize, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        H5Eclear2(H5E_DEFAULT);
        h5util_err(errstr, errsize, "%s: not an HDF5 file (%s)", path,
                   st.st_size == 0 ? "empty" : "no HDF5 signature");
        return -1;
    }
    return 0;
}

int h5util_agree(MPI_Comm comm, int rc, const char *step, char *errstr, size_t errsize)
{
    int rank, size, first;
    MPI_Comm_size(comm, &size);
    if (size <= 1) return rc ? -1 : 0;
    MPI_Comm_rank(comm, &rank);
    int mine = rc ? rank : size;
    first = size;
    MPI_Request req;
    if (MPI_Iallreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm, &req) != MPI_SUCCESS ||
        exchange_wait(&req) != MPI_SUCCESS) {
        h5util_err(errstr, errsize, "MPI_Allreduce failed while agreeing on %s", step);
        return -1;
    }
    if (first == size) return 0;
    char buf[1024] = "";
    if (rank == first) snprintf(buf, sizeof buf, "%s", errstr && errsize ? errstr : "");
    if (MPI_Ibcast(buf, sizeof buf, MPI_CHAR, first, comm, &req) != MPI_SUCCESS ||
        exchange_wait(&req) != MPI_SUCCESS) {
        h5util_err(errstr, errsize, "MPI_Bcast failed while agreeing on %s", step);
        return -1;
    }
    buf[sizeof buf - 1] = '\0';
    h5util_err(errstr, errsize, "%s", buf);
    return -1;
}

int h5util_bcast(MPI_Comm comm, void *buf, size_t n)
{
    MPI_Request req;
    return MPI_Ibcast(buf, (int)n, MPI_BYTE, 0, comm, &req) == MPI_SUCCESS &&
                   exchange_wait(&req) == MPI_SUCCESS
               ? 0
               : -1;
}

void *h5util_big_alloc(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < 2 * huge) return malloc(bytes ? bytes : 1);
    void *p = NULL;
    if (posix_memalign(&p, huge, bytes) != 0) return NULL;
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: failure is harmless */
    return p;
}

/* fsync the directory holding path, so that a rename into it is durable
 * (best effort on file systems that cannot fsync a directory). 0 or -1 with
 * errstr. */
static int sync_dir(const char *path, char *errstr, size_t errsize)
{
    char *copy = strdup(path);
    if (copy == NULL) {
        h5util_err(errstr, errsize, "%s: out of memory", path);
        return -1;
    }
    const char *dir = dirname(copy);
    int rc = 0, dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL)) {
        h5util_err(errstr, errsize, "%s: fsync of the directory failed: %s", dir, strerror(errno));
        rc = -1;
    }
    if (dfd >= 0) close(dfd);
    free(copy);
    return rc;
}

int h5util_publish(hid_t fid, const char *partial, const char *final, char *errstr, size_t errsize)
{
    if (fid >= 0 && H5Fclose(fid) < 0) {
        char why[256];
        h5util_err(errstr, errsize, "%s: closing (flushing) failed: %s", partial,
                   h5util_reason(why, sizeof why));
        return -1;
    }
    /* A descriptor of its own: whatever a driver did to the file, this is the
     * inode about to be renamed. */
    int fd = open(partial, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        h5util_err(errstr, errsize, "%s: fsync failed: %s", partial, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    if (rename(partial, final) != 0) {
        h5util_err(errstr, errsize, "cannot rename %s to %s: %s", partial, final, strerror(errno));
        return -1;
    }
    return sync_dir(final, errstr, errsize);
}
