/* The sampling module (sample.h): decides which allocations are timed and
 * profiled, draws the countdowns, keeps the weights, times the sampled calls
 * and credits profiled sites.
 *
 * Timing: a sampled call is timed with CLOCK_MONOTONIC less the clock's own
 * cost, and its time, weighted, goes into the thread's estimate of time spent
 * allocating fresh blocks or reusing freed ones.
 *
 * Profiling (MPOOL_PROF): the call's stack is taken (profile/sites.c) and the
 * block comes from a span of profiled blocks (core/sampled.c), whose free
 * takes the slow path and finds the site in the registry, at no cost to
 * free's fast path.  A profiled call's
 * time says nothing about a pooled allocation, so the class's next
 * allocation is timed instead, with the same weight.
 *
 * Fallback requests are drawn at random with a probability that grows with
 * their size.
 *
 * A sampled call is also the reclaim tick of a thread whose caches never
 * miss (core/reclaim.c). */
#include "core/sample.h"
#include "base/mathlib.h"
#include "base/options.h"
#include "core/reclaim.h"
#include "core/sizeclass.h"
#include "guard/guard.h"
#include "platform/os.h"
#include "profile/sites.h"

/* ---- the countdown pair --------------------------------------------------- */

/* Change a class's countdown and alloc_base (allocs = alloc_base - countdown)
 * under the cache's sequence count, so another thread never reads a pair
 * from two different moments.  Owner thread only, slow path only. */
static void set_count_pair(mp_tcache_t *tc, unsigned cls, uint64_t base, int64_t countdown)
{
    mp_sampler_t *sm = &tc->sampler;
    uint32_t seq = atomic_load_explicit(&sm->count_seq, memory_order_relaxed);
    atomic_store_explicit(&sm->count_seq, seq + 1, memory_order_relaxed); /* odd: changing */
    atomic_thread_fence(memory_order_release);
    __atomic_store_n(&sm->alloc_base[cls], base, __ATOMIC_RELAXED);
    __atomic_store_n(&tc->bins[cls].countdown, countdown, __ATOMIC_RELAXED);
    atomic_store_explicit(&sm->count_seq, seq + 2, memory_order_release);
}

void mp_sample_set_countdown(mp_tcache_t *tc, unsigned cls, int64_t calls)
{
    set_count_pair(tc, cls, tc->sampler.alloc_base[cls] + (uint64_t)(calls - tc->bins[cls].countdown),
                   calls);
}

void mp_sample_undo(mp_tcache_t *tc, unsigned cls)
{
    set_count_pair(tc, cls, tc->sampler.alloc_base[cls] - 1, tc->bins[cls].countdown);
}

/* ---- random intervals ------------------------------------------------------ */

/* A uniform draw in (0, 1) from the cache's xorshift state (owner only). */
static double uniform(mp_tcache_t *tc)
{
    uint64_t x = tc->sampler.rng ? tc->sampler.rng : (uintptr_t)tc | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    tc->sampler.rng = x;
    return ((double)(x >> 11) + 0.5) / 9007199254740992.0;
}

/* true with probability 1/w (w >= 1) */
static bool draw(mp_tcache_t *tc, double w)
{
    return uniform(tc) * w < 1.0;
}

static double countdown_mean(unsigned cls);

/* 1 / log(1 - 1/mean) of each class, worked out once (the settings are
 * fixed by then): a draw then costs one log, not two.  0: not yet. */
static double inv_log_keep[MP_NUM_CLASSES];

int64_t mp_sample_interval(mp_tcache_t *tc, unsigned cls)
{
    double mean = countdown_mean(cls);
    if (mean <= 1)
        return 1;
    double f = inv_log_keep[cls];
    if (f == 0) /* racing threads store the same value */
        inv_log_keep[cls] = f = 1.0 / mp_log1p(-1.0 / mean);
    double u = uniform(tc);
    double k = mp_log(u) * f;
    return k < 1 ? 1 : k > 1e15 ? (int64_t)1e15 : (int64_t)k + 1;
}

/* 1 / P(a call is sampled).  A class's countdown is redrawn from a geometric
 * distribution with mean m = (mean bytes) / (class size), so each call of the
 * class is sampled with probability 1/m, independently; a fallback request of
 * n bytes is drawn with probability (n + 1) / (mean bytes).  Weighting each
 * sampled call by 1/P gives unbiased totals (Horvitz-Thompson). */
double mp_sample_weight(unsigned cls, size_t n)
{
    double mean = (double)(mp_opt.prof ? mp_opt.prof_sample : MP_TIME_SAMPLE);
    double w = mean / (double)(cls ? mp_classes[cls].size : n + 1);
    return w > 1 ? w : 1;
}

/* A profiled call is followed by a timed one only one time in this many, so
 * that timed calls stay about MP_TIME_SAMPLE bytes apart however dense the
 * profiling: each follow-up then stands for this many profiled calls. */
static double followups_every(void)
{
    double every = (double)MP_TIME_SAMPLE / (double)mp_opt.prof_sample;
    return every > 1 ? every : 1;
}

/* ---- deciding ------------------------------------------------------------------ */

/* Mean calls between two guarded allocations of class cls; 0: never
 * guarded (off, MPOOL_DEBUG checks every block already, or its blocks are
 * larger than a slot's page). */
static double guard_every(unsigned cls)
{
    if (!mp_opt.guard_sample || mp_opt.debug || !mp_guard_fits(mp_classes[cls].size, 0))
        return 0;
    return (double)mp_opt.guard_sample;
}

/* The mean of class cls's countdown: the denser of the two draws (timed or
 * profiled, guarded); a call that comes due then goes on to each draw with
 * the probability that makes its own rate right. */
static double countdown_mean(unsigned cls)
{
    double w = mp_sample_weight(cls, 0), g = guard_every(cls);
    return g && g < w ? g : w;
}

/* Count this allocation in its class and decide what is done with it.  A
 * countdown at or below 0 on entry means the fast path already counted the
 * call (intervals are >= 1). */
static int decide(mp_tcache_t *tc, unsigned cls, size_t n)
{
    if (!MP_COUNTERS || mp_tls_unsampled) {
        if (cls) {
            mp_bin_t *bin = &tc->bins[cls];
            if (bin->countdown <= 0 || --bin->countdown <= 0)
                mp_sample_set_countdown(tc, cls, mp_tls_unsampled ? 1 : mp_sample_interval(tc, cls));
        }
        return MP_SAMPLE_NONE;
    }
    if (cls == 0) /* the fallback: profiling it times what it normally costs */
        return draw(tc, mp_sample_weight(0, n)) ? MP_SAMPLE_TIME | (mp_opt.prof ? MP_SAMPLE_PROF : 0)
                                                : MP_SAMPLE_NONE;
    mp_bin_t *bin = &tc->bins[cls];
    bool due = bin->countdown <= 0 || --bin->countdown <= 0;
    uint64_t bit = (uint64_t)1 << cls;
    if (!due)
        return MP_SAMPLE_NONE; /* the common case: nothing more to decide */
    double w = mp_sample_weight(cls, n), g = guard_every(cls), c = g && g < w ? g : w;
    int what = MP_SAMPLE_NONE;
    if (tc->sampler.time_next & bit) {
        /* the follow-up of a profiled call: timed; profiled and guarded with
         * their usual probabilities, so each stays an independent draw per call */
        tc->sampler.time_next &= ~bit;
        what = MP_SAMPLE_TIME | MP_SAMPLE_FOLLOWUP;
        if (mp_opt.prof && draw(tc, w))
            what |= MP_SAMPLE_PROF;
        if (g && draw(tc, g))
            what |= MP_SAMPLE_GUARD;
    } else {
        /* due with probability 1/c: timed or profiled with c/w, guarded with c/g */
        if (c >= w || draw(tc, w / c))
            what = mp_opt.prof ? (w <= 1 ? MP_SAMPLE_PROF | MP_SAMPLE_TIME : MP_SAMPLE_PROF)
                               : MP_SAMPLE_TIME;
        if (g && (c >= g || draw(tc, g / c)))
            what |= MP_SAMPLE_GUARD;
    }
    /* A profiled call's time is not a pooled call's either: the class's next
     * call is timed in its place, one time in followups_every().  A geometric
     * countdown is memoryless: redrawn after that follow-up, or now. */
    if ((what & MP_SAMPLE_PROF) && !(what & MP_SAMPLE_TIME) &&
        draw(tc, followups_every())) {
        tc->sampler.time_next |= bit;
        mp_sample_set_countdown(tc, cls, 1);
    } else {
        mp_sample_set_countdown(tc, cls, mp_sample_interval(tc, cls));
    }
    return what;
}

/* What reading the clock twice costs by itself (the least of a few tries):
 * subtracted from every timed call, whose own cost is often smaller. */
static uint64_t clock_cost_ns(void)
{
    static _Atomic uint64_t cost = UINT64_MAX; /* measured once; racing threads agree */
    uint64_t c = atomic_load_explicit(&cost, memory_order_relaxed);
    if (c == UINT64_MAX) {
        for (int i = 0; i < 16; i++) {
            uint64_t a = mp_os_now_ns(), b = mp_os_now_ns();
            if (b - a < c)
                c = b - a;
        }
        atomic_store_explicit(&cost, c, memory_order_relaxed);
    }
    return c;
}

int mp_sample_alloc_slow(mp_tcache_t *tc, unsigned cls, size_t n, mp_sample_t *s)
{
    s->what = decide(tc, cls, n);
    if (MP_LIKELY(s->what == MP_SAMPLE_NONE))
        return MP_SAMPLE_NONE;
    /* Every ~256 KiB allocated: also the tick that keeps memory going back to
     * the OS in a program whose caches never miss (a profiled call's timed
     * follow-up ticks for it). */
    if (s->what & MP_SAMPLE_TIME)
        mp_reclaim_tick(0, true);
    /* the stack before the clock starts: the time measured is the allocation's own */
    s->site = s->what & MP_SAMPLE_PROF ? mp_site_capture() : MP_NO_SITE;
    s->t0 = mp_os_now_ns();
    return s->what;
}

void mp_sample_alloc_done(mp_tcache_t *tc, unsigned cls, size_t n, const mp_sample_t *s, bool reused)
{
    if (!(s->what & MP_SAMPLE_TIME))
        return;
    uint64_t took = mp_os_now_ns() - s->t0, cost = clock_cost_ns();
    double w = mp_sample_weight(cls, n) * (s->what & MP_SAMPLE_FOLLOWUP ? followups_every() : 1);
    double spent = (double)(took > cost ? took - cost : 0) * w;
    if (reused)
        tc->sampler.reuse_ns += spent;
    else
        tc->sampler.alloc_ns += spent;
}

/* ---- profiled blocks ------------------------------------------------------------ */

void mp_sample_credit(uint32_t site, unsigned cls, size_t n)
{
    if (site == MP_NO_SITE)
        return;
    double w = mp_sample_weight(cls, n);
    mp_site_credit(site, w * (double)n, w);
}

void mp_sample_free(const mp_fallback_info_t *info)
{
    if (info->site == MP_NO_SITE)
        return;
    double w = mp_sample_weight(info->cls, info->sampled);
    uint32_t lived_us = (uint32_t)(mp_os_now_ns() / 1000u) - info->born_us; /* wraps: fine */
    mp_site_debit(info->site, w * (double)info->sampled, w, lived_us); /* what it was credited */
}
