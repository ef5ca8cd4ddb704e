/* Memory for allocations made while libmpool initialises itself (for example
 * by pthread_key_create or pthread_atfork on the initialising thread): a
 * static bump arena.  Its blocks are never reused; free() recognises and
 * ignores them.  Each block is preceded by a 16-byte header with its size. */
#include "core/bootstrap.h"

#define BOOT_BYTES (256 * 1024)

static _Alignas(4096) char arena[BOOT_BYTES];
static _Atomic size_t used;

void *mp_boot_alloc(size_t n, size_t align)
{
    if (align < MP_MIN_ALIGN)
        align = MP_MIN_ALIGN;
    if (n > BOOT_BYTES || align > BOOT_BYTES)
        return NULL;
    size_t need = (n + 15) & ~(size_t)15;
    size_t start, block;
    size_t cur = atomic_load_explicit(&used, memory_order_relaxed);
    do {
        block = (cur + MP_MIN_ALIGN + align - 1) & ~(align - 1); /* room for the header */
        start = block + need;
        if (start > BOOT_BYTES)
            return NULL;
    } while (!atomic_compare_exchange_weak_explicit(&used, &cur, start, memory_order_relaxed,
                                                    memory_order_relaxed));
    ((size_t *)(arena + block))[-1] = need;
    return arena + block;
}

bool mp_boot_owns(const void *p, size_t *usable)
{
    const char *c = p;
    if (c < arena || c >= arena + BOOT_BYTES)
        return false;
    if (usable)
        *usable = ((const size_t *)c)[-1];
    return true;
}
