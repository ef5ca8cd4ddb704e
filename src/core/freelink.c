/* A free block's mark and link (freelink.h): the secret, the safe-linking
 * switch, and the report of a link found broken. */
#include "core/freelink.h"
#include "base/fmt.h"
#include "base/report.h"

#include <string.h>
#include <sys/auxv.h>

uintptr_t mp_secret;
uintptr_t mp_link_mask;

/* 8 random bytes the kernel gives every process (AT_RANDOM): no syscall, no
 * allocation.  Even, nonzero: the low bits stay free for tags. */
void mp_freelink_init(bool safelink)
{
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    uintptr_t v = 0x9E3779B97F4A7C15ull;
    if (r)
        memcpy(&v, r + 8, sizeof v);
    mp_secret = (v | 0x10) & ~(uintptr_t)0xf;
    mp_link_mask = safelink ? ~(uintptr_t)0 : 0;
}

void mp_report_bad_link(const char *func, const void *b)
{
    char line[256];
    mp_fmt(line, sizeof line, "%s%sfree-list link of %p is corrupted (a write after free?)",
           func ? func : "", func ? "(): " : "", b);
    mp_report_abort(line);
}
