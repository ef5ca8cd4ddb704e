/* The paths of the files libmpool writes. */
#define _GNU_SOURCE
#include "observe/paths.h"
#include "base/fmt.h"
#include "platform/os.h"

#include <string.h>

bool mp_path_absolute(const char *path, char *out, size_t cap)
{
    if (path[0] == '/' || (path[0] == '-' && path[1] == '\0'))
        return mp_fmt(out, cap, "%s", path) < cap;
    char cwd[4096];
    /* not "(unreachable)/...": a directory outside the process's root */
    return mp_os_getcwd(cwd, sizeof cwd) && cwd[0] == '/' &&
           mp_fmt(out, cap, "%s/%s", cwd, path) < cap;
}

bool mp_path_expand(const char *path, unsigned number, char *out, size_t cap, bool *numbered)
{
    size_t n = 0;
    char pid[24], serial[24];
    size_t pidlen = mp_fmt(pid, sizeof pid, "%ld", (long)mp_os_getpid());
    size_t seriallen = mp_fmt(serial, sizeof serial, "%u", number);
    *numbered = false;
    for (const char *p = path; *p; p++) {
        const char *piece = p;
        size_t len = 1;
        if (p[0] == '%' && p[1] == 'p') {
            piece = pid;
            len = pidlen;
            p++;
        } else if (p[0] == '%' && p[1] == 'n') {
            piece = serial;
            len = seriallen;
            *numbered = true;
            p++;
        }
        if (n + len >= cap)
            return false;
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return true;
}

bool mp_path_has_pid(const char *path)
{
    return strstr(path, "%p") != NULL;
}
