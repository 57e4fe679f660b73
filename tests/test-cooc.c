/* Co-occurrence tables (src/stream/cooc.c): similarities normalised by both items' mass,
 * read through the 16-bit masses within their stated error, and bounded neighbour lists
 * that keep the heavy pairs. */
#include "../src/stream/cooc.h"
#include "test.h"

#include <math.h>

TEST(similarities_are_cosines_within_the_stored_masses_error)
{
    /* Pairs (0, k) of weight w_k: item 0's mass is the sum, item k's is w_k plus what k
     * also shares with item 1 (so that the two masses differ), over 15 orders of size. */
    cooc_t *c = cooc_new();
    double w[40], other[40], mass0 = 0;
    for (int k = 2; k < 40; k++) {
        w[k] = pow(10, (k - 2) * 0.4 - 3); /* 1e-3 .. 1e12 */
        other[k] = w[k] * 0.37;
        cooc_add(c, 0, (uint32_t)k, (float)w[k]);
        cooc_add(c, (uint32_t)k, 0, (float)w[k]);
        cooc_add(c, (uint32_t)k, 1, (float)other[k]);
        mass0 += w[k];
    }
    for (int k = 2; k < 40; k++) {
        double want = w[k] / sqrt(mass0 * (w[k] + other[k]));
        float got = cooc_sim_with(c, (uint32_t)k, 0);
        ASSERT(got > 0);
        ASSERT(fabs(got - want) <= want * 1.1e-3); /* two masses within 2^-11 each */
        ASSERT(fabsf(cooc_mass(c, (uint32_t)k) - (float)(w[k] + other[k])) <=
               1e-5f * (float)(w[k] + other[k]));
    }
    /* Equal weights give equal similarities, and a heavier partner a lower one. */
    cooc_t *d = cooc_new();
    cooc_add(d, 10, 11, 3);
    cooc_add(d, 11, 10, 3);
    cooc_add(d, 10, 12, 3);
    cooc_add(d, 12, 10, 3);
    cooc_add(d, 12, 13, 50);
    ASSERT(fabsf(cooc_sim_with(d, 10, 11) - 3 / sqrtf(6 * 3)) < 1e-3f * 3 / sqrtf(6 * 3));
    ASSERT(cooc_sim_with(d, 10, 11) > cooc_sim_with(d, 10, 12));
    cooc_free(d);
    cooc_free(c);
}

TEST(a_neighbour_without_pairs_of_its_own_scores_zero)
{
    cooc_t *c = cooc_new();
    cooc_add(c, 1, 2, 5); /* one direction only: 2 has no mass */
    ASSERT(cooc_mass(c, 2) == 0);
    const cooc_slot_t *s;
    ASSERT(cooc_get(c, 1, &s) == 1 && s[0].item == 2); /* it is 1's neighbour all the same */
    ASSERT(cooc_sim_with(c, 1, 2) == 0);
    cooc_add(c, 2, 1, 5);
    ASSERT(fabsf(cooc_sim_with(c, 1, 2) - 1.0f) < 1e-3f);
    cooc_free(c);
}

TEST(a_full_list_keeps_the_heavy_pairs)
{
    cooc_t *c = cooc_new();
    for (uint32_t round = 0; round < 20; round++) {
        cooc_add(c, 0, 1, 10); /* the heavy pair, seen every round */
        for (uint32_t k = 0; k < 3 * COOC_SLOTS; k++)
            cooc_add(c, 0, 100 + round * 1000 + k, 1); /* a crowd of pairs seen once */
    }
    const cooc_slot_t *s;
    size_t n = cooc_get(c, 0, &s);
    ASSERT_EQ(n, COOC_SLOTS);
    float heavy = -1;
    for (size_t i = 0; i < n; i++)
        if (s[i].item == 1)
            heavy = s[i].w;
    ASSERT(heavy >= 200); /* its weight, plus at most what it inherited */
    ASSERT(fabsf(cooc_mass(c, 0) - 20 * (10 + 3 * COOC_SLOTS)) < 1e-2f);
    cooc_free(c);
}

TEST_MAIN(TEST_ENTRY(similarities_are_cosines_within_the_stored_masses_error),
          TEST_ENTRY(a_neighbour_without_pairs_of_its_own_scores_zero),
          TEST_ENTRY(a_full_list_keeps_the_heavy_pairs))
