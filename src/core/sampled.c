/* Profiled blocks served by the pools.  A sampled allocation (MPOOL_PROF)
 * gets a block of its own class, like any other, so a profiled run places
 * memory as libmpool does, not as jemalloc would.  Its free must find the
 * site it was credited to, at no cost to the free fast path: such blocks
 * come from spans of their own, whose pagemap entries have class 0 (the
 * fast path's always-full bin sends every free of them to the slow path)
 * and say "sampled" with the real class beside (core/region.h), and each
 * span has a table beside it, one entry per block, that remembers the
 * block's site, size asked for and birth: written and read under the lock
 * the allocation and the free take anyway, so a sample costs no registry
 * lock and no signal mask.
 *
 * Per class: a list of freed sampled blocks and the span being carved.
 * Each span counts its live blocks (a table of the region, by the span's
 * first page); when its last block is freed, and it is not the span being
 * carved, its blocks leave the class's list and the span goes back to the
 * region, released as the decay releases spans.  Sampled calls are rare
 * (one per MPOOL_PROF_SAMPLE bytes, on average), so one lock serves; the
 * callers hold mp_tls_unsampled meanwhile, so a signal handler's
 * allocation on the same thread is never sampled into it. */
#include "core/sampled.h"
#include "core/region.h"
#include "core/freelink.h"
#include "platform/os.h"

#include <pthread.h>

typedef struct sampled_class {
    mp_block_t *free; /* freed sampled blocks */
    char *next, *end; /* the span being carved */
    char *carving;    /* its start */
    unsigned kept;    /* medium classes: wholly free spans kept on `free` */
} sampled_class_t;

/* A medium block's span is the block (sizeclass.c), so each of its frees
 * empties a span: up to this many per class stay listed, table and all,
 * rather than costing a release, a table unmap and a map and page faults at
 * the next sampled block of the class.  At most 1 MiB each; malloc_trim
 * releases them (mp_sampled_release_kept). */
#define KEEP_MEDIUM_SPANS 4

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sampled_class_t classes[MP_NUM_CLASSES];
static uint32_t *span_live; /* per span (its first page): live sampled blocks */
static mp_sampled_block_t **span_blocks_of; /* per span (its first page): its blocks' table */

void mp_sampled_init(void)
{
    mp_region_table((void **)&span_live, sizeof *span_live);
    mp_region_table((void **)&span_blocks_of, sizeof *span_blocks_of);
}

static size_t table_bytes(const mp_class_info_t *ci)
{
    return (size_t)ci->span_blocks * sizeof(mp_sampled_block_t);
}

/* The first page of p's span (p in a span of profiled blocks). */
static size_t span_first_page(const void *p)
{
    return mp_region_sampled_span_page(mp_region_page_of(p));
}

/* The entry of block p (of cls, in a span of profiled blocks). */
static mp_sampled_block_t *entry_of(const void *p, const mp_class_info_t *ci)
{
    size_t first = span_first_page(p);
    uintptr_t in_span = (uintptr_t)p - (mp_region.base + (first << MP_PAGE_SHIFT));
    return &span_blocks_of[first][in_span / ci->size];
}

void *mp_sampled_alloc(unsigned cls, const mp_sampled_block_t *what, bool *reused)
{
    const mp_class_info_t *ci = &mp_classes[cls];
    pthread_mutex_lock(&lock);
    sampled_class_t *sc = &classes[cls];
    void *p = sc->free;
    *reused = p != NULL;
    if (p) {
        mp_check_link("malloc", sc->free); /* a write after free, as in a bin (tcache.h) */
        sc->free = sc->free->next;
        ((mp_block_t *)p)->link = 0; /* no longer free */
        if (mp_class_is_medium(cls) && p != sc->carving)
            sc->kept--;
    } else {
        if (sc->next == sc->end && span_live) {
            char *span = mp_region_alloc_sampled_span(cls);
            mp_sampled_block_t *table = span ? mp_os_map(table_bytes(ci)) : NULL;
            if (table) {
                span_blocks_of[mp_region_page_of(span)] = table;
                sc->carving = sc->next = span;
                sc->end = span + (size_t)ci->span_blocks * ci->size;
            } else if (span) {
                mp_region_release_span(span, ci->span_pages);
            }
        }
        if (sc->next != sc->end) {
            p = sc->next;
            sc->next += ci->size;
        }
    }
    if (p) {
        span_live[span_first_page(p)]++;
        mp_sampled_block_t *e = entry_of(p, ci);
        *e = *what;
        e->live = 1;
    }
    pthread_mutex_unlock(&lock);
    return p;
}

bool mp_sampled_lookup(const void *p, unsigned cls, mp_sampled_block_t *out)
{
    pthread_mutex_lock(&lock);
    mp_sampled_block_t *e = entry_of(p, &mp_classes[cls]);
    bool live = e->live;
    if (live)
        *out = *e;
    pthread_mutex_unlock(&lock);
    return live;
}

/* Take the blocks of [span, span + bytes) off the class's list.  A block
 * that stays and gets a new link gets a new mark with it (tcache.h). */
static void unlist_span(sampled_class_t *sc, const char *span, size_t bytes)
{
    mp_block_t *prev = NULL;
    for (mp_block_t *b = sc->free, *next; b; b = next) {
        mp_check_link("free", b);
        next = b->next;
        if ((const char *)b < span || (const char *)b >= span + bytes)
            prev = b;
        else if (prev)
            mp_block_set_next(prev, next);
        else
            sc->free = next;
    }
}

/* Give an emptied span back: its table unmapped, its pages released. */
static void release_span(const mp_class_info_t *ci, char *span)
{
    size_t first = mp_region_page_of(span);
    mp_os_unmap(span_blocks_of[first], table_bytes(ci));
    span_blocks_of[first] = NULL;
    mp_region_release_span(span, ci->span_pages);
}

bool mp_sampled_free(void *p, unsigned cls, mp_sampled_block_t *out)
{
    const mp_class_info_t *ci = &mp_classes[cls];
    pthread_mutex_lock(&lock);
    mp_sampled_block_t *e = entry_of(p, ci);
    if (!e->live) {
        pthread_mutex_unlock(&lock);
        return false; /* freed before */
    }
    *out = *e;
    e->live = 0;
    sampled_class_t *sc = &classes[cls];
    size_t first = span_first_page(p);
    char *span = (char *)(mp_region.base + (first << MP_PAGE_SHIFT));
    bool keep_medium = mp_class_is_medium(cls) && sc->kept < KEEP_MEDIUM_SPANS;
    if (--span_live[first] == 0 && span != sc->carving && !keep_medium) {
        unlist_span(sc, span, ci->span_bytes);
        release_span(ci, span);
    } else {
        if (mp_class_is_medium(cls) && span != sc->carving)
            sc->kept++;
        mp_block_set_next(p, sc->free); /* with its mark, checked when popped */
        sc->free = p;
    }
    pthread_mutex_unlock(&lock);
    return true;
}

size_t mp_sampled_release_kept(void)
{
    size_t released = 0;
    pthread_mutex_lock(&lock);
    for (unsigned c = MP_CLASS_PAGE + 1; c < mp_num_classes; c++) {
        sampled_class_t *sc = &classes[c];
        const mp_class_info_t *ci = &mp_classes[c];
        mp_block_t *stay = NULL;
        for (mp_block_t *b = sc->free, *next; b; b = next) {
            mp_check_link("free", b);
            next = b->next; /* before the release writes the span's link */
            if ((char *)b == sc->carving) { /* the span being carved: it stays */
                mp_block_set_next(b, stay);
                stay = b;
                continue;
            }
            release_span(ci, (char *)b); /* a medium block is its span */
            released += ci->size;
        }
        sc->free = stay;
        sc->kept = 0;
    }
    pthread_mutex_unlock(&lock);
    return released;
}

void mp_sampled_fork_prepare(void)
{
    pthread_mutex_lock(&lock);
}

void mp_sampled_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void mp_sampled_fork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    lock = fresh;
}
