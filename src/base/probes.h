/* USDT probes: points in the allocator that bpftrace, perf and SystemTap
 * attach to with no rebuild (`bpftrace -l 'usdt:/path/libmpool.so:*'`).
 * Each is one nop in the code until something attaches; all are on slow
 * paths, none on malloc's or free's fast path.  Provider "mpool":
 *
 *   sample_alloc(ptr, size, site)   a profiled allocation (MPOOL_PROF)
 *   sample_free(ptr, size, site)    its free
 *   large_alloc(ptr, size)          a request served by jemalloc
 *   large_free(ptr, size)
 *   refill(class size, blocks)      a thread cache took a batch (or a fresh block)
 *   flush(class size, blocks)       a thread cache gave a batch back
 *   reclaim_pass(bytes released, all)
 *   dump(reason)                    a stats dump or heap profile was written
 *
 * Built with sys/sdt.h (Debian systemtap-sdt-dev) unless -Dusdt=disabled. */
#ifndef MPOOL_PROBES_H
#define MPOOL_PROBES_H

#if MP_USDT
#define SDT_USE_VARIADIC 1 /* STAP_PROBEV */
#include <sys/sdt.h>
#define MP_PROBE(name, ...) STAP_PROBEV(mpool, name, __VA_ARGS__)
#else
#define MP_PROBE(name, ...) ((void)0)
#endif

#endif
