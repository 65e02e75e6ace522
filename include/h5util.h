/* h5util.h - what the HDF5 modules (h5snap.c, h5archive.c) share: silencing
 * HDF5's own error printing, and turning its error stack into one line. */
#ifndef BS_H5UTIL_H
#define BS_H5UTIL_H

#include <stddef.h>

/* Stop HDF5 from printing its error stack; modules report errors themselves. */
void h5util_quiet(void);

/* The innermost message of HDF5's error stack (which is then cleared), in
 * buf; "HDF5 error" when the stack is empty. Returns buf. */
const char *h5util_reason(char *buf, size_t size);

#endif
