/* The platform layer: the only code that maps, unmaps or writes through the
 * kernel. Every function is async-signal-safe and never allocates. */
#include "internal.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Reserve address space that costs nothing until touched.  MAP_NORESERVE keeps
 * it out of the commit charge under the default overcommit policy; pages are
 * backed (zeroed) on first touch.  Precondition: size is a multiple of the page
 * size.  Postcondition: NULL, or size bytes readable and writable. */
void *mp_os_reserve(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *mp_os_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void mp_os_unmap(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

/* Give the memory behind [p, p + size) back to the kernel, keeping the range
 * mapped: the next touch reads zeros.  Page-aligned. */
void mp_os_release(void *p, size_t size)
{
    madvise(p, size, MADV_DONTNEED);
}

/* Release the whole pages inside [p, p + size): the partial pages at either
 * end may belong to something else and stay. */
void mp_os_release_within(void *p, size_t size)
{
    size_t page = mp_os_page_size();
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + size) & ~(page - 1);
    if (hi > lo)
        mp_os_release((void *)lo, hi - lo);
}

/* Write all of s, retrying short writes and EINTR; errno is preserved so that
 * a warning never changes what the program sees. */
void mp_os_write(int fd, const char *s, size_t n)
{
    int saved = errno;
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        s += w;
        n -= (size_t)w;
    }
    errno = saved;
}

/* A clock for decays: a few nanoseconds, resolution of a tick (1-4 ms). */
uint64_t mp_os_coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

size_t mp_os_page_size(void)
{
    static _Atomic size_t page; /* threads may race to set it: same value */
    size_t size = atomic_load_explicit(&page, memory_order_relaxed);
    if (!size) {
        size = (size_t)sysconf(_SC_PAGESIZE);
        atomic_store_explicit(&page, size, memory_order_relaxed);
    }
    return size;
}
