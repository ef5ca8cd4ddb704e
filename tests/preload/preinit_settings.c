/* preinit_settings.c - MPOOL_* settings are read even when the first
 * allocation comes before libc has set `environ` (a .preinit_array
 * function; any program built with clang -fsanitize=undefined has one).
 *
 * Run with MPOOL_LIMIT=64M: the cap libmpool reports must be 64 MiB.
 */
#define _GNU_SOURCE 1
#include "ptest.h"

static void allocate_first(void)
{
    void *p = malloc(32); /* libmpool initialises here, environ still NULL */
    free(p);
}
__attribute__((section(".preinit_array"), used)) static void (*preinit)(void) = allocate_first;

int main(void)
{
    ptest_require_mpool("preinit_settings");
    size_t (*get_limit)(void) = (size_t (*)(void))dlsym(RTLD_DEFAULT, "mpool_get_limit");
    if (CHECK(get_limit != NULL, "mpool_get_limit not found"))
        CHECK(get_limit() == (size_t)64 << 20, "MPOOL_LIMIT=64M read as %zu bytes", get_limit());
    return ptest_finish();
}
