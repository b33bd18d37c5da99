// SPDX-License-Identifier: Apache-2.0
// An LD_PRELOAD allocation-failure injector for the out-of-memory test
// (issue 19, point 8): once armed (fail_alloc_arm()), the Nth call to malloc,
// calloc or realloc (N from AUTHCTL_FAIL_ALLOC_AT) returns NULL with ENOMEM,
// and every one after it succeeds again (one failure, as a transient
// shortage). fail_alloc_fired() says whether the Nth call came,
// fail_alloc_count() how many calls were counted. glibc's own
// allocator does the rest (__libc_malloc and friends).
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);

static atomic_long g_count = -1;  // -1: not armed
static long g_fail_at = 0;
static atomic_int g_fired = 0;

__attribute__((visibility("default"))) void fail_alloc_arm(void)
{
    const char* at = getenv("AUTHCTL_FAIL_ALLOC_AT");
    g_fail_at = at != NULL ? strtol(at, NULL, 10) : 0;
    atomic_store(&g_count, 0);
}

__attribute__((visibility("default"))) int fail_alloc_fired(void)
{
    return atomic_load(&g_fired);
}

__attribute__((visibility("default"))) long fail_alloc_count(void)
{
    return atomic_load(&g_count);
}

static int should_fail(void)
{
    if (atomic_load(&g_count) < 0) return 0;
    if (atomic_fetch_add(&g_count, 1) + 1 != g_fail_at || g_fail_at <= 0) return 0;
    atomic_store(&g_fired, 1);
    errno = ENOMEM;
    return 1;
}

__attribute__((visibility("default"))) void* malloc(size_t n)
{
    return should_fail() ? NULL : __libc_malloc(n);
}

__attribute__((visibility("default"))) void* calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : __libc_calloc(n, size);
}

__attribute__((visibility("default"))) void* realloc(void* p, size_t n)
{
    if (p != NULL && n == 0) return __libc_realloc(p, n);  // a free, not an allocation
    return should_fail() ? NULL : __libc_realloc(p, n);
}
