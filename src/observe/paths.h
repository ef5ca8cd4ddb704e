/* The paths of the files libmpool writes (stats dumps, the time series):
 * made absolute at start, and their %p and %n filled in when written. */
#ifndef MPOOL_PATHS_H
#define MPOOL_PATHS_H

#include "base/base.h"

/* path as the directory the program started in reads it, into out; false
 * (out unset) when the current directory cannot be had or out is too
 * small.  "-" and absolute paths are copied as they are. */
bool mp_path_absolute(const char *path, char *out, size_t cap) MP_HIDDEN;
/* path with each %p replaced by the pid and each %n by number; false if it
 * does not fit.  *numbered: path has %n. */
bool mp_path_expand(const char *path, unsigned number, char *out, size_t cap,
                    bool *numbered) MP_HIDDEN;
bool mp_path_has_pid(const char *path) MP_HIDDEN; /* a %p in it */

#endif
