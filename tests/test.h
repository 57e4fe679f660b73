/* A small test framework in the style of libuv's: each test file defines TEST(name)
 * functions and a TEST_LIST; ASSERT macros abort the current test with file:line. */
#ifndef AISLE_TEST_H
#define AISLE_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);
typedef struct {
    const char *name;
    test_fn fn;
} test_entry_t;

#define TEST(name) static void test_##name(void)
#define TEST_ENTRY(name) {#name, test_##name}

#define FAIL(...)                                                                                              \
    do {                                                                                                       \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                                        \
        fprintf(stderr, __VA_ARGS__);                                                                          \
        fprintf(stderr, "\n");                                                                                 \
        abort();                                                                                               \
    } while (0)

#define ASSERT(expr)                                                                                           \
    do {                                                                                                       \
        if (!(expr))                                                                                           \
            FAIL("assertion failed: %s", #expr);                                                               \
    } while (0)

#define ASSERT_EQ(a, b)                                                                                        \
    do {                                                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                                                    \
        if (a_ != b_)                                                                                          \
            FAIL("%s == %s failed: %lld != %lld", #a, #b, a_, b_);                                             \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                                    \
    do {                                                                                                       \
        const char *a_ = (a), *b_ = (b);                                                                       \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                                 \
            FAIL("%s == %s failed: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");         \
    } while (0)

#define ASSERT_CONTAINS(hay, needle)                                                                           \
    do {                                                                                                       \
        const char *h_ = (hay), *n_ = (needle);                                                                \
        if (!h_ || !strstr(h_, n_))                                                                            \
            FAIL("expected \"%s\" in: %.2000s", n_, h_ ? h_ : "(null)");                                       \
    } while (0)

/* Runs every test of the list, or only the one named in argv[1]. Each test is run in
 * the same process, one after the other; a failing ASSERT aborts the process. */
static inline int test_main(int argc, char **argv, const test_entry_t *tests, size_t n)
{
    int ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
            continue;
        fprintf(stderr, "-- %s\n", tests[i].name);
        tests[i].fn();
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "no test named %s\n", argc > 1 ? argv[1] : "(none)");
        return 1;
    }
    fprintf(stderr, "%d passed, 0 failed\n", ran);
    return 0;
}

#define TEST_MAIN(...)                                                                                         \
    int main(int argc, char **argv)                                                                            \
    {                                                                                                          \
        static const test_entry_t tests_[] = {__VA_ARGS__};                                                    \
        return test_main(argc, argv, tests_, sizeof tests_ / sizeof tests_[0]);                                \
    }

#endif
