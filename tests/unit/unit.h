/* Shared helpers for the Check unit suites: each file defines one suite and
 * runs it with this main. */
#ifndef MPOOL_UNIT_H
#define MPOOL_UNIT_H

#include <check.h>
#include <stdlib.h>

#define UNIT_MAIN(suite_fn)                                             \
    int main(void)                                                      \
    {                                                                   \
        SRunner *sr = srunner_create(suite_fn());                       \
        srunner_run_all(sr, CK_NORMAL);                                 \
        int failed = srunner_ntests_failed(sr);                         \
        srunner_free(sr);                                               \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                    \
    }

/* Sanitizers map shadow memory beside every page a test touches, so tests
 * that measure RSS run in the plain build only (scripts/test runs both). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNIT_RSS_MEASURABLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNIT_RSS_MEASURABLE 0
#endif
#endif
#ifndef UNIT_RSS_MEASURABLE
#define UNIT_RSS_MEASURABLE 1
#endif

/* splitmix64: a deterministic RNG for reproducible stress */
static inline unsigned long long unit_rand(unsigned long long *s)
{
    unsigned long long z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#endif
