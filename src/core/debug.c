/* MPOOL_DEBUG=1: catch overflows and writes after free.
 *
 * Every block is asked for with room for a tail: canary bytes from the end of
 * the request up to a 16-byte trailer at the very end of the usable block.
 *
 *   | program's n bytes | canary (>= 8 bytes) | trailer: n, site, check |
 *
 * free() and realloc() check the canary (a one-byte overflow changes it)
 * and the trailer's check word (an overflow that reached it).  free() then
 * fills a pooled block with a pattern, from byte 24 (the first three words
 * carry the free list's links) up to the trailer, which stays so that a
 * later report can still name the block's size and allocation site.  When
 * the block is handed out again, the pattern is checked: any byte changed is
 * a write after free.
 *
 * The fast paths are closed in this mode (the gate: flush_at 0, as under a cap):
 * every call comes through alloc.c's slow paths, which call in here.
 * Fallback (jemalloc) blocks get the canary and trailer but not the fill:
 * jemalloc reuses their memory without telling us.
 *
 * With MPOOL_PROF the trailer also holds the allocation's call site, taken
 * for every block: reports then say where the damaged block came from. */
#include "core/debug.h"
#include "core/tcache.h"
#include "base/fmt.h"
#include "base/report.h"
#include "platform/os.h"
#include "profile/sites.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CANARY_BYTE 0xca
#define FREE_BYTE 0xdf
#define FILL_FROM 24 /* next, free mark, batch link: the free list's words */

typedef struct trailer {
    uint64_t requested; /* n: the bytes the program asked for */
    uint32_t site;      /* profile/sites.c site, or MP_NO_SITE */
    uint32_t check;     /* of the above and the block's address */
} trailer_t;

_Static_assert(sizeof(trailer_t) == 16, "trailer is two words");
_Static_assert(MP_DEBUG_MIN_BLOCK >= FILL_FROM + sizeof(trailer_t) + 8,
               "the smallest debug block has room for links, fill and trailer");

static uint32_t check_of(const void *p, uint64_t requested, uint32_t site)
{
    uint64_t x = ((uintptr_t)p ^ mp_secret) * 0x9E3779B97F4A7C15ull;
    x ^= requested * 0xC2B2AE3D27D4EB4Full;
    x ^= (uint64_t)site << 17;
    return (uint32_t)(x >> 32) ^ (uint32_t)x;
}

static trailer_t *trailer_of(void *p, size_t usable)
{
    return (trailer_t *)((char *)p + usable - sizeof(trailer_t));
}

size_t mp_debug_size(size_t n)
{
    size_t need = n + MP_DEBUG_TAIL;
    return need < MP_DEBUG_MIN_BLOCK ? MP_DEBUG_MIN_BLOCK : need;
}

void mp_debug_arm(void *p, size_t n, size_t usable, uint32_t site)
{
    trailer_t *t = trailer_of(p, usable);
    memset((char *)p + n, CANARY_BYTE, (size_t)((char *)t - ((char *)p + n)));
    t->requested = n;
    t->site = site;
    t->check = check_of(p, n, site);
}

/* "allocated at: f+0x1c (prog+0x1234) <- g+0x10 (...)": the site's first
 * frames, on the report's second line. */
static void write_site(uint32_t site)
{
    const char *frames[4];
    unsigned depth = mp_site_frames(site, frames, 4);
    if (depth == 0)
        return;
    char line[1024];
    size_t n = mp_fmt(line, sizeof line, "mpool:   allocated at: %s", frames[0]);
    for (unsigned i = 1; i < depth && n < sizeof line; i++)
        n += mp_fmt(line + n, sizeof line - n, " <- %s", frames[i]);
    if (n >= sizeof line - 1)
        n = sizeof line - 2;
    line[n++] = '\n';
    mp_os_write(STDERR_FILENO, line, n);
}

__attribute__((noreturn)) static void report(const char *func, const void *p, const char *what,
                                             size_t offset, unsigned was, unsigned expected,
                                             uint32_t site)
{
    char line[256];
    size_t n = mp_fmt(line, sizeof line,
                      "mpool: %s(): %s in block %p: byte %lu is 0x%02x, not 0x%02x\n", func, what,
                      p, (unsigned long)offset, was, expected);
    if (mp_report_begin()) {
        mp_os_write(STDERR_FILENO, line, n < sizeof line ? n : sizeof line - 1);
        write_site(site);
    }
    abort();
}

__attribute__((noreturn)) static void report_trailer(const char *func, const void *p)
{
    char line[256];
    size_t n = mp_fmt(line, sizeof line,
                      "mpool: %s(): heap overflow in block %p: its trailer is overwritten "
                      "(the overflow ran past its canary)\n",
                      func, p);
    if (mp_report_begin())
        mp_os_write(STDERR_FILENO, line, n < sizeof line ? n : sizeof line - 1);
    abort();
}

/* The first byte in [from, to) of p that is not `want`, or `to`. */
static size_t first_changed(const unsigned char *p, size_t from, size_t to, unsigned char want)
{
    uint64_t word;
    memset(&word, want, sizeof word);
    size_t i = from;
    for (; i < to && (i & 7); i++)
        if (p[i] != want)
            return i;
    for (; i + 8 <= to; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, sizeof v);
        if (v != word)
            break;
    }
    for (; i < to; i++)
        if (p[i] != want)
            return i;
    return to;
}

size_t mp_debug_check(const char *func, const void *p, size_t usable)
{
    trailer_t *t = trailer_of((void *)p, usable);
    size_t n = t->requested;
    if (n > usable - MP_DEBUG_TAIL || t->check != check_of(p, n, t->site))
        report_trailer(func, p);
    const unsigned char *b = p;
    size_t end = usable - sizeof(trailer_t);
    size_t bad = first_changed(b, n, end, CANARY_BYTE);
    if (bad != end)
        report(func, p, "heap overflow past the requested size", bad, b[bad], CANARY_BYTE, t->site);
    return n;
}

void mp_debug_fill_freed(void *p, size_t usable)
{
    memset((char *)p + FILL_FROM, FREE_BYTE, usable - FILL_FROM - sizeof(trailer_t));
}

void mp_debug_check_freed(const void *p, size_t usable)
{
    const trailer_t *t = trailer_of((void *)p, usable);
    if (t->check != check_of(p, t->requested, t->site))
        report_trailer("malloc", p); /* written after free, at the trailer */
    const unsigned char *b = p;
    size_t end = usable - sizeof(trailer_t);
    size_t bad = first_changed(b, FILL_FROM, end, FREE_BYTE);
    if (bad != end)
        report("malloc", p, "write after free", bad, b[bad], FREE_BYTE, t->site);
}

uint32_t mp_debug_site(const void *p, size_t usable)
{
    return trailer_of((void *)p, usable)->site;
}
