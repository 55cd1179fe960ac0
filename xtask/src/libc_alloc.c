/*
 * Sends the Rust global allocator's calls to the C library instead of mimalloc, for the
 * binaries `cargo xtask profile` runs under valgrind's DHAT.
 *
 * The gateway and the bare pass-through set `mimalloc::MiMalloc` as their global allocator,
 * which calls mi_malloc_aligned, mi_zalloc_aligned, mi_realloc_aligned and mi_free (mimalloc
 * crate 0.1, src/lib.rs). DHAT counts what goes through malloc & co., so it would see nothing.
 * Linked with -Wl,--wrap=<each of them>, the Rust code's references resolve to the
 * __wrap_ functions below; mimalloc itself is linked but unused. Allocation counts and sizes
 * are the program's, whatever allocator serves them; instruction counts are taken from the
 * unmodified release binary, not from this one.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* glibc's malloc returns 16-byte aligned memory on x86-64 and aarch64. */
#define MALLOC_ALIGN 16

void *__wrap_mi_malloc_aligned(size_t size, size_t align) {
    if (align <= MALLOC_ALIGN) {
        return malloc(size);
    }
    void *p = NULL;
    return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

void *__wrap_mi_zalloc_aligned(size_t size, size_t align) {
    if (align <= MALLOC_ALIGN) {
        return calloc(1, size);
    }
    void *p = __wrap_mi_malloc_aligned(size, align);
    if (p != NULL) {
        memset(p, 0, size);
    }
    return p;
}

void *__wrap_mi_realloc_aligned(void *p, size_t size, size_t align) {
    if (align <= MALLOC_ALIGN) {
        return realloc(p, size);
    }
    void *q = __wrap_mi_malloc_aligned(size, align);
    if (q != NULL && p != NULL) {
        size_t old = malloc_usable_size(p);
        memcpy(q, p, old < size ? old : size);
        free(p);
    }
    return q;
}

void __wrap_mi_free(void *p) {
    free(p);
}
