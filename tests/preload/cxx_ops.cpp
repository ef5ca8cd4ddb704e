// cxx_ops.cpp - every C++ operator new/delete form, under LD_PRELOAD.
//
//   ./cxx_ops
//
// Plain, array, nothrow, sized delete, std::align_val_t aligned new/delete
// (alignments 32..4096 and 64 KiB), nothrow aligned; huge requests throw
// std::bad_alloc (or return nullptr for nothrow); a new_handler is called
// before bad_alloc is thrown; standard containers churn.  Under libmpool
// (not MPOOL_TEST_ANY_ALLOCATOR=1) the operators must resolve to libmpool.
#include "ptest.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

static volatile size_t v_huge = size_t(1) << 62;
static volatile size_t v_half = SIZE_MAX / 2;
static volatile size_t v_max = SIZE_MAX;
static volatile size_t v_pmax = size_t(PTRDIFF_MAX);

static bool aligned_to(const void *p, size_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

static bool use_block(void *p, size_t n, uint64_t key)
{
    if (!p) return false;
    ptest_fill(p, n, key);
    return ptest_verify(p, n, key) == size_t(-1);
}

static const size_t sizes[] = { 0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 48, 64, 100, 127, 128, 255, 256,
                                500, 1000, 1024, 2048, 4000, 4096, 5000, 10000, 65536, 100000,
                                1 << 20, (1 << 20) + 1, 5 << 20, 17 << 20 };

static void test_plain()
{
    int bad = 0, misal = 0;
    size_t first_misal = 0;
#define AL16(p) do { if (!aligned_to(p, 16)) { if (!misal++) first_misal = n; } } while (0)
    for (size_t n : sizes) {
        void *p = ::operator new(n);
        AL16(p);
        bad += !use_block(p, n, n);
        ::operator delete(p);
        p = ::operator new[](n);
        AL16(p);
        bad += !use_block(p, n, n + 1);
        ::operator delete[](p);
        p = ::operator new(n);
        bad += !use_block(p, n, n + 2);
        ::operator delete(p, n);                 // sized delete
        p = ::operator new[](n);
        bad += !use_block(p, n, n + 3);
        ::operator delete[](p, n);               // sized array delete
        p = ::operator new(n, std::nothrow);
        AL16(p);
        bad += !use_block(p, n, n + 4);
        ::operator delete(p, std::nothrow);
        p = ::operator new[](n, std::nothrow);
        bad += !use_block(p, n, n + 5);
        ::operator delete[](p, std::nothrow);
        p = ::operator new(n);
        ::operator delete(p, std::nothrow);
    }
#undef AL16
    CHECK(misal == 0, "operator new: %d results not 16-byte aligned "
          "(__STDCPP_DEFAULT_NEW_ALIGNMENT__), first for size %zu", misal, first_misal);
    CHECK(bad == 0, "plain/array/nothrow/sized operator new/delete: %d unusable blocks", bad);

    // expression forms
    int *i = new int(42);
    CHECK(*i == 42, "new int(42)");
    delete i;
    std::string *sa = new std::string[100];
    for (int k = 0; k < 100; k++) sa[k] = std::string(static_cast<size_t>(k) * 3, char('a' + k % 26));
    bool ok = true;
    for (int k = 0; k < 100; k++) ok &= sa[k].size() == static_cast<size_t>(k) * 3;
    delete[] sa;
    CHECK(ok, "new std::string[100] usable");
    char *c = new (std::nothrow) char[12345];
    CHECK(c && use_block(c, 12345, 9), "new (std::nothrow) char[12345]");
    delete[] c;
    ::operator delete(nullptr);
    ::operator delete[](nullptr);
    CHECK(true, "delete of nullptr");
}

struct alignas(64) A64 { unsigned char b[64]; };
struct alignas(256) A256 { unsigned char b[300]; };
struct alignas(4096) A4096 { unsigned char b[5000]; };

static void test_aligned()
{
    int bad = 0, misal = 0;
    size_t aligns[] = { 32, 64, 128, 256, 512, 1024, 2048, 4096, 65536 };
    for (size_t a : aligns) {
        std::align_val_t al{a};
        size_t szs[] = { 0, 1, a - 1, a, a + 1, 3 * a, 100000 };
        for (size_t n : szs) {
            void *p = ::operator new(n, al);
            misal += !aligned_to(p, a);
            bad += !use_block(p, n, a ^ n);
            ::operator delete(p, al);

            p = ::operator new[](n, al);
            misal += !aligned_to(p, a);
            bad += !use_block(p, n, a ^ n ^ 1);
            ::operator delete[](p, al);

            p = ::operator new(n, al);
            misal += !aligned_to(p, a);
            bad += !use_block(p, n, 7);
            ::operator delete(p, n, al);            // sized aligned delete

            p = ::operator new[](n, al);
            misal += !aligned_to(p, a);
            bad += !use_block(p, n, 8);
            ::operator delete[](p, n, al);

            p = ::operator new(n, al, std::nothrow);
            misal += !aligned_to(p, a);
            bad += !use_block(p, n, 9);
            ::operator delete(p, al, std::nothrow);

            p = ::operator new[](n, al, std::nothrow);
            misal += !aligned_to(p, a);
            bad += !use_block(p, n, 10);
            ::operator delete[](p, al, std::nothrow);
        }
    }
    CHECK(misal == 0, "aligned operator new: %d misaligned results", misal);
    CHECK(bad == 0, "aligned operator new: %d unusable blocks", bad);

    // expression forms of over-aligned types
    std::vector<void *> keep;
    int m2 = 0;
    for (int k = 0; k < 50; k++) {
        A64 *x = new A64;
        A256 *y = new A256[3];
        A4096 *z = new A4096;
        m2 += !aligned_to(x, 64) + !aligned_to(y, 256) + !aligned_to(z, 4096);
        memset(x, 1, sizeof *x);
        memset(y, 2, sizeof(A256) * 3);
        memset(z, 3, sizeof *z);
        delete x;
        delete[] y;
        delete z;
    }
    CHECK(m2 == 0, "new of alignas(64/256/4096) types: %d misaligned", m2);
}

static int handler_calls;
static void counting_handler()
{
    handler_calls++;
    std::set_new_handler(nullptr);   // next failure throws
}

static void test_huge()
{
    size_t hs[] = { v_huge, v_half, v_max, v_pmax };
    const char *names[] = { "1<<62", "SIZE_MAX/2", "SIZE_MAX", "PTRDIFF_MAX" };
    for (int k = 0; k < 4; k++) {
        size_t n = hs[k];
        bool thrown = false;
        try {
            char *p = new char[n];
            p[0] = 1;
            delete[] p;
        } catch (const std::bad_alloc &) {
            thrown = true;
        }
        CHECK(thrown, "new char[%s] did not throw std::bad_alloc", names[k]);

        thrown = false;
        try {
            void *p = ::operator new(n);
            ::operator delete(p);
        } catch (const std::bad_alloc &) {
            thrown = true;
        }
        CHECK(thrown, "operator new(%s) did not throw std::bad_alloc", names[k]);

        thrown = false;
        try {
            void *p = ::operator new(n, std::align_val_t(64));
            ::operator delete(p, std::align_val_t(64));
        } catch (const std::bad_alloc &) {
            thrown = true;
        }
        // libstdc++ 12's own aligned new rounds the size up to the alignment
        // with unsigned overflow, so new(SIZE_MAX, align) "succeeds" there.
        // libmpool's operators must throw; other allocators: reported only.
        if (!thrown && k == 2 && ptest_any())
            SKIP("operator new(SIZE_MAX, align 64) did not throw (size rounding overflow in this "
                 "operator new; required under mpool)");
        else
            CHECK(thrown, "operator new(%s, align 64) did not throw std::bad_alloc", names[k]);

        thrown = false;
        try {
            void *p = ::operator new[](n, std::align_val_t(4096));
            ::operator delete[](p, std::align_val_t(4096));
        } catch (const std::bad_alloc &) {
            thrown = true;
        }
        if (!thrown && k == 2 && ptest_any())
            SKIP("operator new[](SIZE_MAX, align 4096) did not throw (size rounding overflow in "
                 "this operator new; required under mpool)");
        else
            CHECK(thrown, "operator new[](%s, align 4096) did not throw std::bad_alloc", names[k]);

        char *c = new (std::nothrow) char[n];
        CHECK(c == nullptr, "new (std::nothrow) char[%s] = %p, want nullptr", names[k], (void *)c);
        delete[] c;
        void *p = ::operator new(n, std::nothrow);
        CHECK(p == nullptr, "operator new(%s, nothrow) = %p, want nullptr", names[k], p);
        ::operator delete(p);
        p = ::operator new(n, std::align_val_t(128), std::nothrow);
        if (p && k == 2 && ptest_any())
            SKIP("operator new(SIZE_MAX, align 128, nothrow) = %p (size rounding overflow in this "
                 "operator new; required under mpool)", p);
        else
            CHECK(p == nullptr, "operator new(%s, align 128, nothrow) = %p, want nullptr", names[k], p);
        ::operator delete(p, std::align_val_t(128));
    }

    // new_handler is called before bad_alloc is thrown
    handler_calls = 0;
    std::set_new_handler(counting_handler);
    bool thrown = false;
    try {
        char *p = new char[v_huge];
        delete[] p;
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    CHECK(thrown && handler_calls == 1, "new_handler: thrown=%d, handler called %d times (want 1)",
          thrown, handler_calls);

    handler_calls = 0;
    std::set_new_handler(counting_handler);
    thrown = false;
    try {
        void *p = ::operator new(v_huge, std::align_val_t(256));
        ::operator delete(p, std::align_val_t(256));
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    CHECK(thrown && handler_calls == 1, "new_handler (aligned new): thrown=%d, handler called %d times",
          thrown, handler_calls);

    handler_calls = 0;
    std::set_new_handler(counting_handler);
    void *p = ::operator new(v_huge, std::nothrow);
    CHECK(p == nullptr && handler_calls == 1, "new_handler (nothrow new): result %p, handler called %d times",
          p, handler_calls);
    std::set_new_handler(nullptr);

    // a new_handler that throws: the nothrow forms must still return nullptr
    std::set_new_handler([] { throw std::bad_alloc(); });
    void *q = nullptr, *qa = nullptr;
    bool escaped = false;
    try {
        q = ::operator new(v_huge, std::nothrow);
        qa = ::operator new(v_huge, std::align_val_t(64), std::nothrow);
    } catch (...) {
        escaped = true;
    }
    CHECK(!escaped && q == nullptr && qa == nullptr,
          "nothrow new with a throwing new_handler: escaped=%d, results %p %p", escaped, q, qa);
    std::set_new_handler(nullptr);

    // after all that, normal allocation still works
    std::unique_ptr<char[]> u(new char[1000]);
    CHECK(use_block(u.get(), 1000, 77), "allocation after failures");
}

static void test_containers()
{
    ptest_rng r = { 99 };
    std::map<int, std::string> m;
    std::unordered_map<std::string, std::vector<int>> um;
    std::vector<std::string> vs;
    std::vector<std::shared_ptr<std::vector<uint64_t>>> sp;
    bool ok = true;
    for (int it = 0; it < 60000; it++) {
        int k = static_cast<int>(ptest_below(&r, 5000));
        switch (ptest_below(&r, 6)) {
        case 0:
            m[k] = std::string(static_cast<size_t>(k % 300), char('a' + k % 26));
            break;
        case 1: {
            auto f = m.find(k);
            if (f != m.end()) {
                ok &= f->second.size() == static_cast<size_t>(k % 300);
                ok &= f->second.empty() || f->second[0] == char('a' + k % 26);
                m.erase(f);
            }
            break;
        }
        case 2: {
            std::string key = "key" + std::to_string(k);
            auto &v = um[key];
            v.push_back(k);
            if (v.size() > 20) v.clear();
            break;
        }
        case 3:
            vs.push_back(std::string(static_cast<size_t>(ptest_below(&r, 2000)), 'x'));
            if (vs.size() > 3000) vs.erase(vs.begin(), vs.begin() + 1500);
            break;
        case 4: {
            auto v = std::make_shared<std::vector<uint64_t>>(static_cast<size_t>(ptest_below(&r, 500)), uint64_t(k));
            sp.push_back(v);
            if (sp.size() > 1000) {
                for (auto &e : sp) for (auto x : *e) ok &= x == e->front();
                sp.clear();
            }
            break;
        }
        default: {
            std::string key = "key" + std::to_string(k);
            auto f = um.find(key);
            if (f != um.end()) {
                for (int x : f->second) ok &= x == k;
                um.erase(f);
            }
        }
        }
    }
    for (auto &kv : m)
        ok &= kv.second.size() == static_cast<size_t>(kv.first % 300);
    for (auto &kv : um)
        for (int x : kv.second) ok &= ("key" + std::to_string(x)) == kv.first;
    for (auto &s : vs)
        ok &= s.find_first_not_of('x') == std::string::npos;
    CHECK(ok, "std::map/unordered_map/vector/string/shared_ptr churn: content mismatch");
}

static void test_symbols()
{
    static const char *const syms[] = {
        "_Znwm", "_Znam", "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm",
        "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
        "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t", "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t",
        "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
        "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
        "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
    };
    if (ptest_any()) {
        void *f = dlsym(RTLD_DEFAULT, "_Znwm");
        Dl_info di;
        if (f && dladdr(f, &di))
            fprintf(stderr, "cxx_ops: operator new comes from %s\n", di.dli_fname);
        SKIP("operator new/delete provenance is only checked under libmpool");
        return;
    }
    int bad = 0;
    for (const char *s : syms) {
        void *f = dlsym(RTLD_DEFAULT, s);
        Dl_info di;
        const char *obj = (f && dladdr(f, &di) && di.dli_fname) ? di.dli_fname : "(not found)";
        if (!strstr(obj, "libmpool")) {
            bad++;
            CHECK(0, "%s resolves to %s, not libmpool", s, obj);
        }
    }
    CHECK(bad == 0, "all operator new/delete forms resolve to libmpool (%d do not)", bad);
}

int main()
{
    ptest_require_mpool("cxx_ops");
    test_symbols();
    test_plain();
    test_aligned();
    test_huge();
    test_containers();
    return ptest_finish();
}
