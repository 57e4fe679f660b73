/* The live customer profile: what every event tells about a customer (or an anonymous
 * session, merged into the customer when it logs in). Fixed-size, about 330 bytes, plus
 * the list of purchased items: the last interactions (a ring), decayed category and brand
 * affinities, the price band, the cart, the current session. Updated in log order by
 * st_apply, live and on replay. Not thread-safe: the store's lock guards it. */
#ifndef AISLE_PROFILE_H
#define AISLE_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#define PROF_RECENT 16
#define PROF_CATS 8
#define PROF_BRANDS 4
#define PROF_CART 8
#define PROF_NONE UINT32_MAX
#define PROF_SESSION_GAP_MS (30 * 60 * 1000)

/* What the stream knows of one event when it reaches the profile. */
typedef struct {
    uint32_t item;     /* PROF_NONE for a search */
    int type;          /* evt_type_t */
    int64_t ts_ms;
    uint32_t category; /* leaf, PROF_NONE when unknown */
    uint32_t brand;    /* PROF_NONE when unknown */
    double price;      /* < 0 when unknown */
    uint32_t quantity;
} prof_event_t;

typedef struct {
    float weight[6];     /* per event type: how much it says about a taste */
    double half_life_ms; /* of category and brand affinities */
} prof_config_t;

typedef struct {
    uint32_t item;
    uint16_t count;
    uint32_t last_s; /* seconds since the epoch */
} prof_bought_t;

typedef struct {
    uint32_t recent_item[PROF_RECENT];
    uint32_t recent_s[PROF_RECENT];
    uint8_t recent_type[PROF_RECENT];
    uint8_t recent_head, recent_n; /* head: next slot to write */
    uint8_t ncart;
    uint32_t cart[PROF_CART];

    uint32_t cat[PROF_CATS];
    float cat_w[PROF_CATS];
    uint32_t brand[PROF_BRANDS];
    float brand_w[PROF_BRANDS];
    int64_t aff_ms; /* time the affinities were last decayed to */

    float log_price_sum, price_w; /* weighted mean of log(price) seen */

    int64_t session_start_ms, session_last_ms;
    uint32_t session_events;

    prof_bought_t *bought; /* owned; sorted by item */
    uint32_t nbought, bought_cap;
} prof_t;

void prof_config_default(prof_config_t *c);
void prof_init(prof_t *p);
void prof_clear(prof_t *p); /* frees what p owns */
void prof_observe(prof_t *p, const prof_event_t *e, const prof_config_t *c);
/* Folds src (an anonymous session) into dst (the customer); src is left empty. */
void prof_merge(prof_t *dst, prof_t *src, const prof_config_t *c);

/* The k-th most recent interaction (0 = newest); -1 past the end. */
int prof_recent(const prof_t *p, int k, uint32_t *item, int *type, int64_t *ts_ms);
/* Affinity of category/brand slot i decayed to now. */
float prof_cat_weight(const prof_t *p, int i, int64_t now_ms, const prof_config_t *c);
float prof_brand_weight(const prof_t *p, int i, int64_t now_ms, const prof_config_t *c);
/* How many of item were bought, and when last (0 when never). */
uint32_t prof_bought_count(const prof_t *p, uint32_t item, int64_t *last_ms);
int prof_in_cart(const prof_t *p, uint32_t item);
/* Preferred price band: exp(mean log price); 0 when unknown. */
double prof_price_center(const prof_t *p);
size_t prof_bytes(const prof_t *p);

#endif
