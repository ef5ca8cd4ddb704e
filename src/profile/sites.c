/* Sampled allocation sites (MPOOL_PROF): the call stack of each sampled
 * allocation, taken with libunwind, grouped by stack into sites that count
 * the estimated live bytes and blocks allocated there.  What is live at exit
 * is the leak report.
 *
 * Frames are symbolised once, when a site is first seen, with dladdr, and
 * stored as text ("func+0x1c (libfoo.so.1+0x2a1c)"), so a dump -- possibly in
 * a signal handler -- only reads.  Unwinding and dladdr run with no lock of
 * ours held (they take the loader's lock, and a thread inside dlopen may be
 * waiting in malloc), and inside mp_tls_unsampled, so that their own
 * allocations are neither sampled nor recursive.
 *
 * The site table is append-only: a site is fully written before the count
 * that publishes it is raised (release), so readers need no lock.  Counts
 * change under a mutex taken only on sampled calls. */
#define _GNU_SOURCE
#include "profile/sites.h"
#include "base/fmt.h"
#include "platform/os.h"
#include "profile/stack.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#define SITE_CAP 16384             /* distinct stacks kept; later ones are not profiled */
#define INDEX_CAP (SITE_CAP * 2)   /* open addressing, power of two */
#define TEXT_BYTES (32u << 20)     /* symbol text arena (reserved; touched as used) */

typedef struct site {
    uint64_t hash;
    unsigned depth;
    void *pcs[MP_SITE_DEPTH];
    const char *frames[MP_SITE_DEPTH]; /* into the text arena */
    /* estimates, under the lock: live now, allocated since start, and live
     * at the peak snapshot; with the sampled allocations behind each */
    double bytes, blocks, alloc_bytes, alloc_blocks, peak_bytes, peak_blocks;
    double temp_bytes, temp_blocks; /* allocated and freed within MP_SITE_TEMP_US */
    uint64_t live_samples, samples, peak_samples, temp_samples;
} site_t;

/* Each frame's text, by return address: sites share most of their frames
 * (a program's main loop, an interpreter's eval), so each is described once.
 * Open addressing, append-only like the site index: an entry's text is
 * written before its pc is published (release), so lookups take no lock. */
#define FRAME_CAP (SITE_CAP * 4)
typedef struct frame_entry {
    void *pc;
    const char *text;
} frame_entry_t;
static frame_entry_t *frame_index; /* FRAME_CAP entries, mapped with the sites */

MP_TLS int mp_tls_unsampled;

static pthread_mutex_t site_lock = PTHREAD_MUTEX_INITIALIZER;
static site_t *sites;            /* SITE_CAP entries, mapped on first use */
static uint32_t *site_index;     /* INDEX_CAP slots of site number + 1 */
static char *text;               /* TEXT_BYTES */
static size_t text_used;
static _Atomic unsigned nsites;  /* published sites */
/* The estimated live bytes of all sites, its highest value, and the total
 * when the sites' peak figures were last copied (under the lock). */
static double live_total, peak_total, peak_copied_total;
static uint64_t peak_copied_ns;

/* Made once, by the first sampled call; others wait on the lock.  The lock
 * is not held across dl_iterate_phdr, which takes the loader's lock. */
static bool tables_ready(void)
{
    if (__atomic_load_n(&sites, __ATOMIC_ACQUIRE))
        return true;
    pthread_mutex_lock(&site_lock);
    if (sites == NULL) {
        site_t *s = mp_os_reserve(SITE_CAP * sizeof(site_t));
        uint32_t *ix = mp_os_reserve(INDEX_CAP * sizeof(uint32_t));
        char *t = mp_os_reserve(TEXT_BYTES);
        frame_entry_t *f = mp_os_reserve(FRAME_CAP * sizeof(frame_entry_t));
        if (s && ix && t && f) {
            site_index = ix;
            frame_index = f;
            text = t;
            __atomic_store_n(&sites, s, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&site_lock);
    return sites != NULL;
}

static uint64_t hash_stack(void *const *pcs, unsigned depth)
{
    uint64_t h = 0xcbf29ce484222325ull ^ depth;
    for (unsigned i = 0; i < depth; i++)
        h = (h ^ (uintptr_t)pcs[i]) * 0x100000001b3ull;
    return h ? h : 1;
}

/* Site number of this stack, or -1 with *slot where it would go.  Needs no
 * lock: a slot is filled (release) only after its site is fully written, and
 * is never emptied; a miss is looked up again under the lock. */
static int lookup(uint64_t h, void *const *pcs, unsigned depth, size_t *slot)
{
    for (size_t i = h & (INDEX_CAP - 1);; i = (i + 1) & (INDEX_CAP - 1)) {
        uint32_t v = __atomic_load_n(&site_index[i], __ATOMIC_ACQUIRE);
        if (v == 0) {
            *slot = i;
            return -1;
        }
        const site_t *s = &sites[v - 1];
        if (s->hash == h && s->depth == depth && memcmp(s->pcs, pcs, depth * sizeof *pcs) == 0)
            return (int)(v - 1);
    }
}

static const char *frame_text(void *pc)
{
    for (size_t i = ((uintptr_t)pc * 0x9e3779b97f4a7c15ull) >> 48 & (FRAME_CAP - 1);;
         i = (i + 1) & (FRAME_CAP - 1)) {
        void *at = __atomic_load_n(&frame_index[i].pc, __ATOMIC_ACQUIRE);
        if (at == NULL)
            return NULL;
        if (at == pc)
            return frame_index[i].text;
    }
}

/* Under the lock: the text of pc, kept for the next site that has it
 * (unless the index is three quarters full). */
static const char *remember_frame(void *pc, const char *text)
{
    static size_t used;
    if (used >= FRAME_CAP / 4 * 3)
        return text;
    for (size_t i = ((uintptr_t)pc * 0x9e3779b97f4a7c15ull) >> 48 & (FRAME_CAP - 1);;
         i = (i + 1) & (FRAME_CAP - 1)) {
        void *at = frame_index[i].pc;
        if (at == pc)
            return frame_index[i].text;
        if (at == NULL) {
            frame_index[i].text = text;
            __atomic_store_n(&frame_index[i].pc, pc, __ATOMIC_RELEASE);
            used++;
            return text;
        }
    }
}

uint32_t mp_site_capture(void)
{
    if (mp_tls_unsampled)
        return MP_NO_SITE;
    mp_tls_unsampled = 1;
    int saved_errno = errno;
    uint32_t result = MP_NO_SITE;
    void *pcs[MP_SITE_DEPTH];
    unsigned depth = tables_ready() ? mp_stack_capture(pcs, MP_SITE_DEPTH) : 0;
    if (depth == 0)
        goto out;
    uint64_t h = hash_stack(pcs, depth);
    size_t slot = 0;
    int found = lookup(h, pcs, depth, &slot);
    if (found >= 0) {
        result = (uint32_t)found;
        goto out;
    }

    /* A new stack: describe the frames not seen before, without holding our
     * lock (dladdr is the dear part: tens of thousands of instructions). */
    char buf[MP_SITE_DEPTH][256];
    const char *known[MP_SITE_DEPTH];
    size_t len[MP_SITE_DEPTH], need = 0;
    for (unsigned i = 0; i < depth; i++) {
        known[i] = frame_text(pcs[i]);
        if (known[i])
            continue;
        /* every frame, the first too, is a return address: it points after
         * the call, and -1 names the calling line */
        size_t l = mp_stack_describe((char *)pcs[i] - 1, buf[i], sizeof buf[i]);
        len[i] = l < sizeof buf[i] ? l : sizeof buf[i] - 1;
        need += len[i] + 1;
    }
    pthread_mutex_lock(&site_lock);
    found = lookup(h, pcs, depth, &slot); /* another thread may have added it */
    unsigned count = atomic_load_explicit(&nsites, memory_order_relaxed);
    if (found >= 0) {
        result = (uint32_t)found;
    } else if (count < SITE_CAP && text_used + need <= TEXT_BYTES) {
        site_t *s = &sites[count];
        s->hash = h;
        s->depth = depth;
        memcpy(s->pcs, pcs, depth * sizeof *pcs);
        for (unsigned i = 0; i < depth; i++) {
            if (known[i] == NULL) {
                char *t = text + text_used;
                memcpy(t, buf[i], len[i]);
                t[len[i]] = '\0';
                text_used += len[i] + 1;
                known[i] = remember_frame(pcs[i], t);
            }
            s->frames[i] = known[i];
        }
        __atomic_store_n(&site_index[slot], count + 1, __ATOMIC_RELEASE);
        atomic_store_explicit(&nsites, count + 1, memory_order_release);
        result = count;
    }
    pthread_mutex_unlock(&site_lock);
out:
    errno = saved_errno;
    mp_tls_unsampled = 0;
    return result;
}

/* The peak view: each site's live figures as they stood when the live
 * total was highest.  Copied when the total passes the last copy by 1/64,
 * so a program that grows steadily copies O(log growth) times, and the
 * copy stands within 1/64 of the true peak. */
#define PEAK_STEP (1.0 / 64)

static void copy_peak(void)
{
    unsigned count = atomic_load_explicit(&nsites, memory_order_relaxed);
    for (unsigned i = 0; i < count; i++) {
        site_t *s = &sites[i];
        s->peak_bytes = s->bytes;
        s->peak_blocks = s->blocks;
        s->peak_samples = s->live_samples;
    }
    peak_copied_total = live_total;
    peak_copied_ns = mp_os_now_ns();
}

void mp_site_credit(uint32_t site, double bytes, double blocks)
{
    if (site == MP_NO_SITE)
        return;
    pthread_mutex_lock(&site_lock);
    site_t *s = &sites[site];
    s->bytes += bytes;
    s->blocks += blocks;
    s->alloc_bytes += bytes;
    s->alloc_blocks += blocks;
    s->live_samples++;
    s->samples++;
    live_total += bytes;
    if (live_total > peak_total) {
        peak_total = live_total;
        if (live_total >= peak_copied_total * (1 + PEAK_STEP))
            copy_peak();
    }
    pthread_mutex_unlock(&site_lock);
}

void mp_site_debit(uint32_t site, double bytes, double blocks, uint64_t lived_us)
{
    if (site == MP_NO_SITE)
        return;
    pthread_mutex_lock(&site_lock);
    site_t *s = &sites[site];
    s->bytes -= bytes;
    s->blocks -= blocks;
    if (s->live_samples)
        s->live_samples--;
    if (lived_us < MP_SITE_TEMP_US) {
        s->temp_bytes += bytes;
        s->temp_blocks += blocks;
        s->temp_samples++;
    }
    live_total -= bytes;
    pthread_mutex_unlock(&site_lock);
}

unsigned mp_site_count(void)
{
    return atomic_load_explicit(&nsites, memory_order_acquire);
}

/* Lock-free (a dump may run in a signal handler): figures of a moment. */
void mp_site_read(uint32_t site, mp_site_figures_t *out)
{
    const site_t *s = &sites[site];
    *out = (mp_site_figures_t){
        .inuse = { s->bytes > 0 ? s->bytes : 0, s->blocks > 0 ? s->blocks : 0, s->live_samples },
        .alloc = { s->alloc_bytes, s->alloc_blocks, s->samples },
        .peak = { s->peak_bytes, s->peak_blocks, s->peak_samples },
        .temp = { s->temp_bytes, s->temp_blocks, s->temp_samples },
        .depth = s->depth,
        .pcs = s->pcs,
        .frames = s->frames,
    };
}

void mp_site_peak(mp_site_peak_t *out)
{
    *out = (mp_site_peak_t){ live_total > 0 ? live_total : 0, peak_total, peak_copied_total,
                             peak_copied_ns };
}

unsigned mp_site_frames(uint32_t site, const char **frames, unsigned cap)
{
    if (site >= atomic_load_explicit(&nsites, memory_order_acquire))
        return 0; /* MP_NO_SITE, or never published */
    unsigned depth = sites[site].depth < cap ? sites[site].depth : cap;
    for (unsigned i = 0; i < depth; i++)
        frames[i] = sites[site].frames[i];
    return depth;
}

/* The live sites, largest first; lock-free (a dump may run in a signal
 * handler), so the figures are those of a moment, not a transaction. */
unsigned mp_site_leaks(mp_leak_t *out, unsigned cap)
{
    unsigned count = atomic_load_explicit(&nsites, memory_order_acquire), n = 0;
    for (unsigned i = 0; i < count; i++) {
        const site_t *s = &sites[i];
        double bytes = s->bytes; /* an aligned 8-byte read: old or new, never torn */
        if (s->blocks < 0.5) /* nothing live here (malloc(0) leaks have blocks, not bytes) */
            continue;
        mp_leak_t leak = { bytes > 0 ? bytes : 0, s->blocks < 1 ? 1 : s->blocks, s->depth, { 0 } };
        for (unsigned d = 0; d < s->depth; d++)
            leak.frames[d] = s->frames[d];
        /* insertion into the top cap by bytes */
        unsigned at = n < cap ? n : cap;
        while (at > 0 && out[at - 1].bytes < bytes) {
            if (at < cap)
                out[at] = out[at - 1];
            at--;
        }
        if (at < cap) {
            out[at] = leak;
            if (n < cap)
                n++;
        }
    }
    return n;
}

/* After fork() in the child: nobody else can hold the lock. */
void mp_site_fork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    site_lock = fresh;
}

void mp_site_fork_prepare(void)
{
    pthread_mutex_lock(&site_lock);
}

void mp_site_fork_parent(void)
{
    pthread_mutex_unlock(&site_lock);
}
