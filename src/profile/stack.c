/* Call stacks (stack.h): libunwind's unw_backtrace, which caches each
 * frame's unwind rule by address, loaded at the first profiled stack; and
 * dladdr for the names.  The main program's path and libmpool's own code
 * range are found once, on the first capture. */
#define _GNU_SOURCE
#include "profile/stack.h"
#include "base/fmt.h"
#include "base/report.h"
#include "platform/os.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdatomic.h>

static uintptr_t self_lo, self_hi; /* libmpool's own code, left out of stacks */
static char exe_path[1024];        /* the main program, which dladdr leaves unnamed */
static bool found;                 /* both of the above are known */

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t probe = (uintptr_t)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (probe >= lo && probe < hi) {
            self_lo = lo;
            self_hi = hi;
            return 1;
        }
    }
    return 0;
}

/* Racing threads find the same values. */
void mp_stack_prepare(void)
{
    if (__atomic_load_n(&found, __ATOMIC_ACQUIRE))
        return;
    dl_iterate_phdr(find_self, (void *)(uintptr_t)&find_self);
    mp_os_exe_path(exe_path, sizeof exe_path);
    __atomic_store_n(&found, true, __ATOMIC_RELEASE);
}

bool mp_stack_is_own(const void *pc)
{
    return (uintptr_t)pc >= self_lo && (uintptr_t)pc < self_hi;
}

unsigned mp_stack_trim(void *const *raw, int n, void **pcs, unsigned max)
{
    int skip = 0;
    while (skip < n && mp_stack_is_own(raw[skip]))
        skip++;
    unsigned depth = n - skip > (int)max ? max : (unsigned)(n - skip);
    for (unsigned i = 0; i < depth; i++)
        pcs[i] = raw[skip + i];
    return depth;
}

mp_backtrace_fn mp_stack_unwinder;

/* Racing threads load it once each at most: dlopen counts references, and
 * both find the same function. */
mp_backtrace_fn mp_stack_load_unwinder(void)
{
    mp_backtrace_fn fn = NULL;
    void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (lib)
        fn = (mp_backtrace_fn)dlsym(lib, "unw_backtrace");
    if (fn == NULL) {
        static _Atomic bool warned;
        if (!atomic_exchange(&warned, true))
            mp_warn("libunwind.so.8 could not be loaded: stacks come from glibc's backtrace, "
                    "about 15 times slower (install libunwind8)");
        fn = __backtrace;
    }
    __atomic_store_n(&mp_stack_unwinder, fn, __ATOMIC_RELEASE);
    return fn;
}

unsigned mp_stack_capture_lean(void **pcs, unsigned max)
{
    void *raw[64 + MP_STACK_OWN_FRAMES];
    if (max > 64)
        max = 64;
    mp_stack_prepare();
    int n = __backtrace(raw, (int)max + MP_STACK_OWN_FRAMES);
    return mp_stack_trim(raw, n, pcs, max);
}

size_t mp_stack_describe(const void *pc, char *out, size_t cap)
{
    Dl_info info;
    mp_stack_prepare();
    if (dladdr(pc, &info) == 0 || info.dli_fbase == NULL)
        return mp_fmt(out, cap, "%p", pc);
    /* the main program is named as it was started ("./prog", or nothing) */
    const char *mod = info.dli_fname && info.dli_fname[0] == '/' ? info.dli_fname
                      : *exe_path                               ? exe_path
                      : info.dli_fname && *info.dli_fname       ? info.dli_fname
                                                                : program_invocation_name;
    uintptr_t off = (uintptr_t)pc - (uintptr_t)info.dli_fbase;
    if (info.dli_sname)
        return mp_fmt(out, cap, "%s+0x%lx (%s+0x%lx)", info.dli_sname,
                      (unsigned long)((uintptr_t)pc - (uintptr_t)info.dli_saddr), mod,
                      (unsigned long)off);
    return mp_fmt(out, cap, "%p (%s+0x%lx)", pc, mod, (unsigned long)off);
}
