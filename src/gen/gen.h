/* `aisle gen`: a deterministic (seeded) generator of realistic shop data, the catalog,
 * the customers and their behavioural events, in exactly the NDJSON the API takes. Used
 * by the demo, the tests and the benchmarks; it plants structure (tastes, bought-together
 * pairs, similar items, repeat purchases, drift, trends) the engine is expected to find.
 *
 * Output (DIR/...): items.ndjson, users.ndjson, events.ndjson (time order, every ts before
 * --end), and with --truth, truth.ndjson: what was planted, one line per item
 * {"item_id","leaf","consumable","trending","bought_with":[...],"similar":[...]} then one
 * per customer {"user_id","leaves":[...],"leaves_after":[...]?,"drift_at"?,"brands":[...],
 * "price_sensitivity","staple"?,"cadence_days"?} (the staple held at the end). The
 * truth is kept out of items.ndjson so that the engine cannot read the answer from the
 * catalog.
 *
 * Same seed and flags give byte-identical files (own PRNG, xoshiro256** seeded by
 * splitmix64; no rand(), no clock, no hash-table order). Memory is O(items + users) plus
 * the sessions open at one moment; events are streamed through large fwrite buffers.
 *
 * The model, and why:
 *  - Catalog: a fixed tree of 10 top categories x 6 subcategories x 5 leaves (300 leaf
 *    names like Home/Kitchen/Mugs). Small catalogs use fewer leaves (about 12 items a
 *    leaf, picked round-robin over the tops) so that leaves are not near-empty. 12
 *    made-up brands per top category, each with a price tier. Prices are log-normal
 *    around a leaf median (top-category base x random sub/leaf factors, sigma 0.45),
 *    times the brand tier, rounded to .99/.49/.95 endings. Titles are brand + a product
 *    line adjective + the leaf noun (+ colour or size). 3% out of stock (viewed, never
 *    carted). Leaves marked consumable (coffee, detergent, pet food, ...: all of Grocery
 *    and many of Beauty, Pets, Cleaning) have consumable items, tagged "consumable".
 *  - Popularity: Zipf with exponent 1 over the leaves (random rank) and over the items
 *    of a leaf (item order within a leaf is its rank; ids are shuffled so they reveal
 *    nothing). Sampled in O(1) by inverting the continuous 1/x law.
 *  - Customers: demographics (age band, gender, country, loyalty tier) from fixed
 *    distributions; activity log-normal (sigma 1), so a few customers visit often, and
 *    the loyalty tier follows activity. 5% refuse personalization consent, 12% analytics.
 *    Tastes are derived from (seed, customer, epoch), not stored: 1-3 preferred top
 *    categories (nudged by age band) with 1-2 leaves each (at most 4), 1-3 preferred
 *    brands, a price sensitivity in [0,1]. A view picks the better of two popularity
 *    draws by brand match and price fit, so popularity stays Zipf-like but personal.
 *  - Drift: 10% of customers switch to a second, independent taste at a random moment
 *    of the period.
 *  - Sessions: arrivals follow a daily cycle (UTC, evening peak, night trough) and a
 *    weekly one (Sunday high); the arrival rate is steered so that --events are spent
 *    evenly up to --end (the last session starts at least 30 minutes before it). A
 *    session lasts at most 30 minutes: 30% bounce after one view, the others browse
 *    2 + geometric(mean 4) steps. 25% start with a search (query: leaf name, brand +
 *    leaf, the leaf noun, or line + noun), which focuses the views that follow. A step
 *    views an item (25% preceded by a click on it): 35% a similar item of the previous
 *    one, else an item of the focused leaf (55%), another preferred leaf, or 12%
 *    exploration anywhere. Views add to the cart at about 6.5% (more for preferred
 *    brands, fitting prices, searched leaves; never when out of stock); 6% of steps
 *    remove a cart line. A session with a cart ends with one order of all remaining
 *    lines (one purchase event per line, same order_id and ts, unit price = item price)
 *    with probability 0.35-0.55 by loyalty tier (0.20 for guests). With the defaults
 *    that gives about 7.4 events a session, 18% of sessions with an order, and events
 *    62% view, 16% click, 6% search, 10% add_to_cart, 1% remove, 5% purchase.
 *    20% of sessions are anonymous (session_id only): 70% of them are guests with a
 *    throw-away taste, 30% are customers who log in mid-session (always before
 *    checkout); from then on events carry user_id too.
 *  - Bought together: each item has 1-3 partners in related leaves (a sibling leaf, a
 *    leaf of the same top category, sometimes one elsewhere), any item of the leaf, not
 *    the popular ones, so that popularity alone does not find them. When an item is
 *    carted, each partner is viewed and carted with probability 0.45.
 *  - Co-viewed: the items of a leaf form product lines of about 5 (same position modulo
 *    the number of lines, spanning popularity ranks; they share the title adjective);
 *    "similar" views stay within the line.
 *  - Repeat purchases: about a third of the customers have a staple consumable (from a
 *    preferred consumable leaf when they have one; spread more evenly than views, rank
 *    density ~ 1/sqrt(rank), as households keep to their own brands) with a cadence of
 *    10-45 days. A customer whose staple has run out comes back for it in 60% of their
 *    sessions and buys it (with its partners, as above) with probability 0.9. A first
 *    purchase of a consumable makes it the staple when there was none. The staple is
 *    then due again 0.8-1.2 cadences later.
 *  - Trending: 3-10 mid/long-tail items get a linearly growing share of the views (up
 *    to 8% together) over the last min(5 days, period/6).
 *  Ids: items "i<N>", customers "u<N>", sessions "s<N>", orders "o<N>", events "e<N>"
 *  (events numbered in output order). Timestamps are written with milliseconds, "Z". */
#ifndef AISLE_GEN_H
#define AISLE_GEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *out_dir; /* created when missing; not owned */
    uint64_t seed;
    uint32_t items, users;
    uint64_t events;
    uint32_t days;
    int64_t end_ms; /* every event is before this */
    int truth;      /* also write truth.ndjson */
} gen_opts_t;

typedef struct {
    uint64_t by_type[6]; /* view, click, search, add_to_cart, remove_from_cart, purchase */
    uint64_t events, sessions, orders;
    uint64_t bytes; /* written, all files together */
    double seconds;
} gen_stats_t;

/* Defaults: seed 1, 10000 items, 100000 users, 1000000 events, 90 days, end
 * 2026-11-01T00:00:00Z, no truth file; out_dir NULL (must be set). */
void gen_opts_default(gen_opts_t *o);
/* Generates the data set. Returns 0, or -1 with a message for a person in err. */
int gen_run(const gen_opts_t *o, gen_stats_t *st, char *err, size_t errlen);
/* `aisle gen [flags]`: argv holds the flags only (after "gen"). Parses them, runs and
 * prints the one-line summary on stdout. Returns the process exit status (0, 1 on a
 * failed run, 2 on bad usage). */
int gen_main(int argc, char **argv);

#endif
