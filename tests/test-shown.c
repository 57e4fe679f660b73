/* What was shown under each rec_id (src/rank/shown.c): found until the ring forgets it,
 * and never a mixture of two answers while loops write and read the ring at once (it
 * takes no lock). */
#include "../src/rank/shown.h"
#include "../src/util/hash.h"
#include "test.h"

#include <pthread.h>
#include <stdint.h>

TEST(an_answer_is_found_under_its_rec_id_until_the_ring_forgets_it)
{
    shown_t *s = shown_new(4, 1000);
    uint32_t items[3] = {7, 8, 9}, got[SHOWN_MAX_ITEMS], who = 0;
    char first[17], id[17];
    shown_put(s, 5, items, 3, 1000, first);
    ASSERT_EQ(strlen(first), 16);
    ASSERT_EQ(shown_get(s, first, got, &who), 3);
    ASSERT_EQ(who, 5);
    ASSERT(got[0] == 7 && got[1] == 8 && got[2] == 9);
    shown_put(s, 6, items, 0, 1000, id); /* an empty answer has a rec_id too */
    ASSERT(strcmp(first, id) != 0);
    ASSERT_EQ(shown_get(s, id, got, &who), 0);
    ASSERT_EQ(who, 6);
    for (int i = 0; i < 3; i++)
        shown_put(s, 6, items + 1, 2, 1000, id);
    ASSERT_EQ(shown_get(s, first, got, NULL), -1); /* four newer answers: forgotten */
    ASSERT_EQ(shown_get(s, id, got, NULL), 2);
    ASSERT_EQ(got[0], 8);
    ASSERT_EQ(shown_get(s, "0000000000000001", got, NULL), -1); /* another run's */
    ASSERT_EQ(shown_get(s, "short", got, NULL), -1);
    ASSERT_EQ(shown_get(s, "zzzzzzzzzzzzzzzz", got, NULL), -1);
    shown_free(s);
}

/* Each writer's answers say who wrote them: item 0 holds the writer and a counter, the
 * count and the other items follow from it. A torn read breaks that. */
enum { WRITERS = 3, PUTS = 200000 };

typedef struct {
    shown_t *s;
    int writer;
    pthread_mutex_t *mu;
    char (*last)[17]; /* each writer's latest rec_id, for the reader */
    int *done;
} ring_job_t;

static size_t answer_of(uint32_t head, uint32_t *items)
{
    size_t n = 1 + head % 37;
    items[0] = head;
    for (size_t i = 1; i < n; i++)
        items[i] = head * 2654435761u + (uint32_t)i;
    return n;
}

static void *ring_writer(void *arg)
{
    ring_job_t *j = arg;
    uint32_t items[SHOWN_MAX_ITEMS];
    char id[17];
    for (uint32_t k = 0; k < PUTS; k++) {
        size_t n = answer_of((uint32_t)j->writer << 24 | k, items);
        shown_put(j->s, (uint32_t)j->writer, items, n, 1000, id);
        if (k % 8 == 0) {
            pthread_mutex_lock(j->mu);
            memcpy(j->last[j->writer], id, 17);
            pthread_mutex_unlock(j->mu);
        }
    }
    pthread_mutex_lock(j->mu);
    (*j->done)++;
    pthread_mutex_unlock(j->mu);
    return NULL;
}

TEST(answers_written_and_read_at_once_are_never_mixed)
{
    shown_t *s = shown_new(16, 1000); /* a small ring: slots are rewritten all the time */
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    char last[WRITERS][17] = {{0}};
    int done = 0;
    ring_job_t jobs[WRITERS];
    pthread_t th[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        jobs[w] = (ring_job_t){s, w, &mu, last, &done};
        ASSERT(pthread_create(&th[w], NULL, ring_writer, &jobs[w]) == 0);
    }
    long found = 0, forgotten = 0;
    for (int finished = 0; !finished;) {
        char ids[WRITERS][17];
        pthread_mutex_lock(&mu);
        memcpy(ids, last, sizeof ids);
        finished = done == WRITERS;
        pthread_mutex_unlock(&mu);
        for (int w = 0; w < WRITERS; w++) {
            if (!ids[w][0])
                continue;
            uint32_t got[SHOWN_MAX_ITEMS], who = UINT32_MAX, want[SHOWN_MAX_ITEMS];
            int n = shown_get(s, ids[w], got, &who);
            if (n < 0) {
                forgotten++;
                continue;
            }
            found++;
            ASSERT_EQ(who, (uint32_t)w);
            ASSERT_EQ(got[0] >> 24, (uint32_t)w);
            ASSERT_EQ(n, answer_of(got[0], want));
            for (int i = 0; i < n; i++)
                ASSERT_EQ(got[i], want[i]);
        }
    }
    for (int w = 0; w < WRITERS; w++)
        pthread_join(th[w], NULL);
    fprintf(stderr, "%ld answers read whole, %ld already forgotten\n", found, forgotten);
    ASSERT(found > 0);
    shown_free(s);
}

/* Anti-repetition: an item shown more than SHOWN_REPEAT_FREE times without engagement is
 * halved per extra showing, for that customer only; engagement forgets it; a day later
 * it starts again; a busy customer's bucket keeps the items shown most recently. */
static float factor(shown_t *s, uint32_t profile, uint32_t item, int64_t now_ms)
{
    float score = 1.0f;
    shown_demote(s, profile, &item, &score, 1, now_ms);
    return score;
}

TEST(items_shown_again_and_again_are_demoted_per_customer)
{
    shown_t *s = shown_new(64, 1000);
    const int64_t t = 5000000;
    uint32_t answer[3] = {10, 11, 12};
    char id[17];
    for (int k = 0; k < SHOWN_REPEAT_FREE; k++)
        shown_put(s, 7, answer, 3, t, id);
    ASSERT(factor(s, 7, 10, t) == 1.0f); /* twice: free */
    shown_put(s, 7, answer, 3, t, id);
    ASSERT(factor(s, 7, 10, t) == 0.5f);
    shown_put(s, 7, answer, 1, t, id); /* only the first item this time */
    ASSERT(factor(s, 7, 10, t) == 0.25f);
    ASSERT(factor(s, 7, 11, t) == 0.5f);
    ASSERT(factor(s, 8, 10, t) == 1.0f); /* another customer */
    ASSERT(factor(s, 7, 99, t) == 1.0f); /* never shown */
    for (int k = 0; k < 40; k++)
        shown_put(s, 7, answer, 1, t, id);
    ASSERT(factor(s, 7, 10, t) == 1.0f / (float)(1u << 20)); /* demoted, never dropped */
    shown_engaged(s, 7, 11); /* a click: no longer a repeat */
    ASSERT(factor(s, 7, 11, t) == 1.0f);
    ASSERT(factor(s, 7, 12, t) == 0.5f);
    ASSERT(factor(s, 7, 12, t + SHOWN_MEMORY_MS) == 1.0f); /* a day later: forgotten */

    /* A bucket holds SHOWN_IMPRESSION_WAYS items: showing that many new ones, three times,
     * pushes the old ones out and demotes the new ones. */
    uint32_t many[SHOWN_IMPRESSION_WAYS];
    for (int i = 0; i < SHOWN_IMPRESSION_WAYS; i++)
        many[i] = 100 + (uint32_t)i;
    for (int k = 0; k < 3; k++)
        shown_put(s, 7, many, SHOWN_IMPRESSION_WAYS, t + 1000 * (k + 1), id);
    ASSERT(factor(s, 7, 10, t + 4000) == 1.0f);
    for (int i = 0; i < SHOWN_IMPRESSION_WAYS; i++)
        ASSERT(factor(s, 7, many[i], t + 4000) == 0.5f);
    shown_free(s);
}

/* Customers whose buckets fall on the same pair (found with the table's own placement):
 * two keep theirs side by side, a third takes over the one recorded to longest ago. */
static uint32_t same_pair(uint32_t p, uint32_t after)
{
    const uint64_t mask = SHOWN_IMPRESSION_CUSTOMERS / 2 - 1;
    uint32_t q = after + 1;
    while ((hash_mix(q) & mask) != (hash_mix(p) & mask))
        q++;
    return q;
}

TEST(customers_sharing_a_place_keep_their_impressions)
{
    shown_t *s = shown_new(64, 1000);
    uint32_t item = 42, a = 1, b = same_pair(a, a), c = same_pair(a, b);
    char id[17];
    const int64_t t = 5000000;
    for (int k = 0; k < 3; k++)
        shown_put(s, a, &item, 1, t, id);
    for (int k = 0; k < 3; k++)
        shown_put(s, b, &item, 1, t + 1000, id);
    ASSERT(factor(s, a, item, t + 1000) == 0.5f); /* a and b side by side */
    ASSERT(factor(s, b, item, t + 1000) == 0.5f);
    for (int k = 0; k < 3; k++)
        shown_put(s, c, &item, 1, t + 2000, id);
    ASSERT(factor(s, a, item, t + 2000) == 1.0f); /* a's was recorded to longest ago */
    ASSERT(factor(s, b, item, t + 2000) == 0.5f);
    ASSERT(factor(s, c, item, t + 2000) == 0.5f);
    shown_put(s, a, &item, 1, t + 3000, id); /* a comes back: b's is now the oldest */
    ASSERT(factor(s, b, item, t + 3000) == 1.0f);
    ASSERT(factor(s, c, item, t + 3000) == 0.5f);
    shown_free(s);
}

TEST_MAIN(TEST_ENTRY(an_answer_is_found_under_its_rec_id_until_the_ring_forgets_it),
          TEST_ENTRY(answers_written_and_read_at_once_are_never_mixed),
          TEST_ENTRY(items_shown_again_and_again_are_demoted_per_customer),
          TEST_ENTRY(customers_sharing_a_place_keep_their_impressions))
