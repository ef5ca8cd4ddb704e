/* MPOOL_HEAP_PROFILE: the sampled sites as a heap profile in gperftools'
 * text format, which google-pprof and jeprof read (--text, --svg,
 * --collapsed, --inuse_space, --alloc_space, --base):
 *
 *   heap profile: <live blocks>: <live bytes> [<allocated blocks>: <allocated bytes>] @ heapprofile
 *   <live blocks>: <live bytes> [<allocated blocks>: <allocated bytes>] @ 0x... 0x...
 *   ...
 *
 *   MAPPED_LIBRARIES:
 *   <the process's /proc/self/maps>
 *
 * One line per site; the figures are libmpool's estimates (each sampled
 * allocation weighted by 1/P(sampled)), already unbiased, so the header's
 * type is "heapprofile", which tells the readers not to scale them.  The
 * addresses are return addresses, innermost first; the readers take one
 * from every address but the first, so the first is written less one
 * (the call, not the instruction after it).  Written at the moments of the
 * stats dump, in a signal handler too: no malloc, no lock. */
#define _GNU_SOURCE
#include "observe/heapprofile.h"
#include "profile/sites.h"
#include "platform/os.h"

void mp_heapprofile_emit(mp_emitter_t *e)
{
    unsigned count = mp_site_count();
    uint64_t live_blocks = 0, live_bytes = 0, alloc_blocks = 0, alloc_bytes = 0;
    mp_site_figures_t f;
    for (unsigned i = 0; i < count; i++) {
        mp_site_read(i, &f);
        live_blocks += mp_site_whole(f.inuse.blocks);
        live_bytes += mp_site_whole(f.inuse.bytes);
        alloc_blocks += mp_site_whole(f.alloc.blocks);
        alloc_bytes += mp_site_whole(f.alloc.bytes);
    }
    mp_emit_rawf(e, "heap profile: %6lu: %8lu [%6lu: %8lu] @ heapprofile\n",
                 (unsigned long)live_blocks, (unsigned long)live_bytes,
                 (unsigned long)alloc_blocks, (unsigned long)alloc_bytes);
    for (unsigned i = 0; i < count; i++) {
        mp_site_read(i, &f);
        if (mp_site_whole(f.alloc.blocks) == 0 && mp_site_whole(f.inuse.blocks) == 0)
            continue;
        mp_emit_rawf(e, "%6lu: %8lu [%6lu: %8lu] @", (unsigned long)mp_site_whole(f.inuse.blocks),
                     (unsigned long)mp_site_whole(f.inuse.bytes), (unsigned long)mp_site_whole(f.alloc.blocks),
                     (unsigned long)mp_site_whole(f.alloc.bytes));
        for (unsigned d = 0; d < f.depth; d++)
            mp_emit_rawf(e, " %p", (void *)((char *)f.pcs[d] - (d == 0)));
        mp_emit_raw(e, "\n", 1);
    }
    mp_emit_raw(e, "\nMAPPED_LIBRARIES:\n", 19);
    mp_emit_finish(e);
    if (!mp_os_copy_file("/proc/self/maps", e->fd))
        e->failed = true;
}
