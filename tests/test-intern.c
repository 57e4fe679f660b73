/* Interning external ids to dense ids. */
#include "test.h"
#include "util/intern.h"

#include <string.h>

TEST(dense_ids_and_lookup)
{
    intern_t *t = intern_new();
    char s[32];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(s, sizeof s, "item-%d", i);
        int added = 0;
        ASSERT_EQ(intern_put(t, s, (size_t)n, &added), i);
        ASSERT(added);
    }
    ASSERT_EQ(intern_count(t), 100000);
    for (int i = 0; i < 100000; i += 7) {
        int n = snprintf(s, sizeof s, "item-%d", i);
        int added = 1;
        ASSERT_EQ(intern_put(t, s, (size_t)n, &added), i);
        ASSERT(!added);
        ASSERT_EQ(intern_get(t, s, (size_t)n), i);
        size_t len;
        ASSERT_STR_EQ(intern_str(t, (uint32_t)i, &len), s);
        ASSERT_EQ(len, n);
    }
    ASSERT_EQ(intern_get(t, "nope", 4), INTERN_NONE);
    ASSERT(intern_str(t, 100000, NULL) == NULL);
    intern_free(t);
}

TEST(binary_and_empty_safe)
{
    intern_t *t = intern_new();
    ASSERT_EQ(intern_put(t, "a\0b", 3, NULL), 0);
    ASSERT_EQ(intern_put(t, "a", 1, NULL), 1);
    ASSERT_EQ(intern_put(t, "", 0, NULL), 2);
    ASSERT_EQ(intern_get(t, "a\0b", 3), 0);
    ASSERT_EQ(intern_get(t, "a\0c", 3), INTERN_NONE);
    intern_free(t);
}

/* Strings of every length from 6 to 299 (entries are padded to 8 bytes in the arena, and
 * the table grows many times over them): each keeps its id and its exact bytes. */
static int make_str(int i, char *s)
{
    int len = 6 + i % 294;
    for (int k = 0; k < len; k++)
        s[k] = (char)('a' + (i * 7 + k) % 26);
    memcpy(s, &i, sizeof i); /* distinct, and bytes of any value */
    return len;
}

TEST(lengths_and_growth)
{
    intern_t *t = intern_new();
    char s[320];
    for (int i = 0; i < 30000; i++)
        ASSERT_EQ(intern_put(t, s, (size_t)make_str(i, s), NULL), i);
    for (int i = 0; i < 30000; i++) {
        int len = make_str(i, s);
        ASSERT_EQ(intern_get(t, s, (size_t)len), i);
        size_t n;
        const char *got = intern_str(t, (uint32_t)i, &n);
        ASSERT_EQ(n, len);
        ASSERT(memcmp(got, s, (size_t)len) == 0 && got[len] == '\0');
    }
    int len = make_str(29999, s);
    ASSERT_EQ(intern_get(t, s, (size_t)len - 1), INTERN_NONE); /* a prefix of an id */
    intern_free(t);
}

TEST_MAIN(TEST_ENTRY(dense_ids_and_lookup), TEST_ENTRY(binary_and_empty_safe), TEST_ENTRY(lengths_and_growth))
