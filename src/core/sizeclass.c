/* Size classes: 16-byte steps up to 128 bytes, then four classes per doubling
 * (160, 192, 224, 256, 320, ...) up to 64 KiB, so internal waste stays under
 * 25 % while size -> class is a table lookup (<= 1 KiB) or a clz (above).
 *
 * Above 64 KiB (medium blocks, MPOOL_MAX_CLASS up to 1 MiB): one class per
 * 64 KiB page, and a span holds one block.  A freed medium block is then a
 * wholly free span, which the decay can release on its own; and requests
 * whose spans would be the same length share one class, so a block freed by
 * one size serves the next of any size that rounds to its pages (four
 * classes per doubling would keep 80, 96, 112 and 128 KiB blocks apart, all
 * in 2-page spans).  The page-rounded tail a request does not reach is
 * address space, not memory, until a later request writes it.  Medium
 * blocks are not kept in the thread caches beyond one per class (each
 * would hold up to 1 MiB): their frees go to the class's global stack,
 * where the decay sees them, and where a smaller class with none free cuts
 * one to its size (tcache.c). */
#include "core/sizeclass.h"

mp_class_info_t mp_classes[MP_NUM_CLASSES];
uint8_t mp_lookup_class[MP_LOOKUP_MAX / 16 + 1];
size_t mp_max_class_size;
unsigned mp_num_classes;

static size_t class_size(unsigned c)
{
    if (c <= 8)
        return 16 * (size_t)c;
    if (c > MP_CLASS_PAGE)
        return (size_t)(c - MP_CLASS_PAGE + 1) << MP_PAGE_SHIFT;
    unsigned idx = c - 9, l = 7 + idx / 4, sub = idx % 4;
    return ((size_t)1 << l) + (size_t)(sub + 1) * ((size_t)1 << (l - 2));
}

static uint64_t inverse_mod_2_64(uint64_t odd)
{
    uint64_t x = odd; /* correct to 3 bits; each Newton step doubles that */
    for (int i = 0; i < 5; i++)
        x *= 2 - odd * x;
    return x;
}

static void fill_class(mp_class_info_t *ci, size_t size)
{
    size_t pages = (8 * size + MP_PAGE_SIZE - 1) / MP_PAGE_SIZE; /* aim for >= 8 blocks */
    if (pages > MP_SPAN_PAGES_MAX)
        pages = MP_SPAN_PAGES_MAX;
    if (size > MP_PAGE_SIZE) /* a medium block: its span is itself */
        pages = size / MP_PAGE_SIZE;
    size_t batch = (size > MP_BATCH_SMALL_MAX ? MP_BATCH_BYTES_LARGE : MP_BATCH_BYTES) / size;
    batch = batch < 1 ? 1 : batch > MP_BATCH_MAX ? MP_BATCH_MAX : batch;

    ci->size = (uint32_t)size;
    ci->span_pages = (uint32_t)pages;
    ci->span_blocks = (uint32_t)(pages * MP_PAGE_SIZE / size);
    ci->span_bytes = ci->span_blocks * (uint32_t)size;
    ci->batch = (uint32_t)batch;
    ci->cache_limit = (uint32_t)(size > MP_PAGE_SIZE ? 1 : batch * 2);
    ci->shift = (uint32_t)__builtin_ctzl(size);
    ci->inv = inverse_mod_2_64(size >> ci->shift);
    ci->lim = UINT64_MAX / size;
}

void mp_sizeclass_init(size_t max_class)
{
    unsigned last = 0;
    for (unsigned c = 1; c < MP_NUM_CLASSES; c++) {
        size_t size = class_size(c);
        if (size > max_class)
            break;
        fill_class(&mp_classes[c], size);
        last = c;
    }
    mp_num_classes = last + 1;
    for (size_t i = 0; i <= MP_LOOKUP_MAX / 16; i++) {
        size_t n = i * 16; /* the largest size that maps to entry i */
        unsigned c = n <= 128 ? (n ? (unsigned)(n / 16) : 1) : 0;
        if (n > 128) {
            size_t m = n - 1;
            unsigned l = 63u - (unsigned)__builtin_clzl(m);
            c = 9 + (l - 7) * 4 + (unsigned)((m >> (l - 2)) & 3);
        }
        mp_lookup_class[i] = (uint8_t)(c <= last ? c : 0);
    }
    /* Publish the ceiling last: until it is set, every size takes the slow path. */
    mp_max_class_size = mp_classes[last].size;
}

/* The smallest class that holds n bytes with every block aligned to align
 * (a power of two <= MP_PAGE_SIZE): spans start on a page boundary, so a block
 * size that is a multiple of align gives aligned blocks.  0 if none. */
unsigned mp_sizeclass_for_alignment(size_t n, size_t align)
{
    if (align > MP_PAGE_SIZE)
        return 0;
    unsigned c = mp_size_class(n < align ? align : n);
    for (; c != 0 && c < mp_num_classes; c++)
        if (mp_classes[c].size % align == 0)
            return c;
    return 0;
}
