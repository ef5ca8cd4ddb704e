/* Profiled blocks served by the pools.  A sampled allocation (MPOOL_PROF)
 * gets a block of its own class, like any other, so a profiled run places
 * memory as libmpool does, not as jemalloc would.  Its free must find the
 * site it was credited to, at no cost to the free fast path: such blocks
 * come from spans of their own, whose pagemap entries have class 0 (the
 * fast path's always-full bin sends every free of them to the slow path)
 * and say "sampled" with the real class beside (core/region.h), and the
 * fallback's registry remembers each block's site.
 *
 * Per class: a list of freed sampled blocks and the span being carved.
 * Sampled calls are rare (one per MPOOL_PROF_SAMPLE bytes, on average), so
 * one lock serves; it is taken inside mp_tls_unsampled, so a signal
 * handler's allocation on the same thread is never sampled into it. */
#include "core/sampled.h"
#include "core/region.h"

#include <pthread.h>

typedef struct sampled_class {
    mp_block_t *free; /* freed sampled blocks */
    char *next, *end; /* the span being carved */
} sampled_class_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sampled_class_t classes[MP_NUM_CLASSES];

void *mp_sampled_alloc(unsigned cls)
{
    const mp_class_info_t *ci = &mp_classes[cls];
    pthread_mutex_lock(&lock);
    sampled_class_t *sc = &classes[cls];
    void *p = sc->free;
    if (p) {
        sc->free = sc->free->next;
    } else {
        if (sc->next == sc->end) {
            char *span = mp_region_alloc_sampled_span(cls);
            if (span) {
                sc->next = span;
                sc->end = span + (size_t)ci->span_blocks * ci->size;
            }
        }
        if (sc->next != sc->end) {
            p = sc->next;
            sc->next += ci->size;
        }
    }
    pthread_mutex_unlock(&lock);
    return p;
}

void mp_sampled_release(void *p, unsigned cls)
{
    pthread_mutex_lock(&lock);
    ((mp_block_t *)p)->next = classes[cls].free;
    classes[cls].free = p;
    pthread_mutex_unlock(&lock);
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
