/* Profile updates: ring, affinities with exponential decay, price band, cart, purchases,
 * sessions (a gap of 30 minutes starts a new one). */
#include "profile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { T_VIEW, T_CLICK, T_SEARCH, T_ADD, T_REMOVE, T_PURCHASE }; /* evt_type_t order */

void prof_config_default(prof_config_t *c)
{
    const float w[6] = {1.0f, 2.0f, 0.5f, 4.0f, 0.0f, 8.0f};
    memcpy(c->weight, w, sizeof w);
    c->half_life_ms = 14.0 * 24 * 3600 * 1000;
}

void prof_init(prof_t *p)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < PROF_CATS; i++)
        p->cat[i] = PROF_NONE;
    for (int i = 0; i < PROF_BRANDS; i++)
        p->brand[i] = PROF_NONE;
}

void prof_clear(prof_t *p)
{
    free(p->bought);
    prof_init(p);
}

static float decay(int64_t from_ms, int64_t to_ms, const prof_config_t *c)
{
    if (to_ms <= from_ms)
        return 1.0f;
    return (float)exp2(-(double)(to_ms - from_ms) / c->half_life_ms);
}

static void decay_to(prof_t *p, int64_t now_ms, const prof_config_t *c)
{
    if (now_ms <= p->aff_ms)
        return;
    float f = decay(p->aff_ms, now_ms, c);
    for (int i = 0; i < PROF_CATS; i++)
        p->cat_w[i] *= f;
    for (int i = 0; i < PROF_BRANDS; i++)
        p->brand_w[i] *= f;
    p->aff_ms = now_ms;
}

/* Adds w to key's slot, taking the lightest slot when key has none. */
static void bump(uint32_t *keys, float *ws, int n, uint32_t key, float w)
{
    int min = 0;
    for (int i = 0; i < n; i++) {
        if (keys[i] == key) {
            ws[i] += w;
            return;
        }
        if (ws[i] < ws[min] || keys[i] == PROF_NONE)
            min = keys[min] == PROF_NONE ? min : i;
    }
    keys[min] = key;
    ws[min] = w;
}

static void cart_remove(prof_t *p, uint32_t item)
{
    for (int i = 0; i < p->ncart; i++)
        if (p->cart[i] == item) {
            memmove(&p->cart[i], &p->cart[i + 1], (size_t)(p->ncart - i - 1) * sizeof p->cart[0]);
            p->ncart--;
            return;
        }
}

static void cart_add(prof_t *p, uint32_t item)
{
    if (prof_in_cart(p, item))
        return;
    if (p->ncart == PROF_CART) { /* the oldest line falls out */
        memmove(&p->cart[0], &p->cart[1], (PROF_CART - 1) * sizeof p->cart[0]);
        p->ncart--;
    }
    p->cart[p->ncart++] = item;
}

static prof_bought_t *find_bought(const prof_t *p, uint32_t item, uint32_t *pos)
{
    uint32_t lo = 0, hi = p->nbought;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (p->bought[mid].item < item)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return lo < p->nbought && p->bought[lo].item == item ? &p->bought[lo] : NULL;
}

static void add_bought(prof_t *p, uint32_t item, uint32_t count, uint32_t last_s)
{
    uint32_t pos;
    prof_bought_t *b = find_bought(p, item, &pos);
    if (b) {
        b->count = (uint16_t)(b->count + count > 65535 ? 65535 : b->count + count);
        if (last_s > b->last_s)
            b->last_s = last_s;
        return;
    }
    if (p->nbought == p->bought_cap) {
        p->bought_cap = p->bought_cap ? p->bought_cap * 2 : 4;
        p->bought = realloc(p->bought, p->bought_cap * sizeof *p->bought);
        if (!p->bought)
            abort();
    }
    memmove(&p->bought[pos + 1], &p->bought[pos], (p->nbought - pos) * sizeof *p->bought);
    p->bought[pos] = (prof_bought_t){item, (uint16_t)(count > 65535 ? 65535 : count), last_s};
    p->nbought++;
}

static void push_recent(prof_t *p, uint32_t item, int type, uint32_t s)
{
    p->recent_item[p->recent_head] = item;
    p->recent_s[p->recent_head] = s;
    p->recent_type[p->recent_head] = (uint8_t)type;
    p->recent_head = (uint8_t)((p->recent_head + 1) % PROF_RECENT);
    if (p->recent_n < PROF_RECENT)
        p->recent_n++;
}

void prof_observe(prof_t *p, const prof_event_t *e, const prof_config_t *c)
{
    if (!p->session_last_ms || e->ts_ms - p->session_last_ms > PROF_SESSION_GAP_MS) {
        p->session_start_ms = e->ts_ms;
        p->session_events = 0;
    }
    if (e->ts_ms > p->session_last_ms)
        p->session_last_ms = e->ts_ms;
    p->session_events++;
    if (e->item == PROF_NONE)
        return;
    uint32_t s = e->ts_ms > 0 ? (uint32_t)(e->ts_ms / 1000) : 0;
    push_recent(p, e->item, e->type, s);
    float w = c->weight[e->type];
    if (w > 0) {
        decay_to(p, e->ts_ms, c);
        /* An event older than the affinities' clock counts for less, as if it had decayed. */
        float f = decay(e->ts_ms, p->aff_ms, c);
        if (e->category != PROF_NONE)
            bump(p->cat, p->cat_w, PROF_CATS, e->category, w * f);
        if (e->brand != PROF_NONE)
            bump(p->brand, p->brand_w, PROF_BRANDS, e->brand, w * f);
        if (e->price > 0) {
            p->log_price_sum += (float)log(e->price) * w;
            p->price_w += w;
        }
    }
    switch (e->type) {
    case T_ADD: cart_add(p, e->item); break;
    case T_REMOVE: cart_remove(p, e->item); break;
    case T_PURCHASE:
        cart_remove(p, e->item);
        add_bought(p, e->item, e->quantity ? e->quantity : 1, s);
        break;
    default: break;
    }
}

void prof_merge(prof_t *dst, prof_t *src, const prof_config_t *c)
{
    /* Recent interactions: newest of both, in time order. */
    uint32_t items[2 * PROF_RECENT], secs[2 * PROF_RECENT];
    uint8_t types[2 * PROF_RECENT];
    int n = 0;
    for (int pass = 0; pass < 2; pass++) {
        prof_t *p = pass ? src : dst;
        for (int k = p->recent_n - 1; k >= 0; k--) { /* oldest first */
            int idx = (p->recent_head + PROF_RECENT - 1 - k) % PROF_RECENT;
            items[n] = p->recent_item[idx];
            secs[n] = p->recent_s[idx];
            types[n] = p->recent_type[idx];
            n++;
        }
    }
    /* Stable insertion sort by time (at most 32 entries). */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && secs[j - 1] > secs[j]; j--) {
            uint32_t ti = items[j], ts = secs[j];
            uint8_t tt = types[j];
            items[j] = items[j - 1], secs[j] = secs[j - 1], types[j] = types[j - 1];
            items[j - 1] = ti, secs[j - 1] = ts, types[j - 1] = tt;
        }
    dst->recent_n = dst->recent_head = 0;
    for (int i = n > PROF_RECENT ? n - PROF_RECENT : 0; i < n; i++)
        push_recent(dst, items[i], types[i], secs[i]);

    int64_t now = dst->aff_ms > src->aff_ms ? dst->aff_ms : src->aff_ms;
    decay_to(dst, now, c);
    decay_to(src, now, c);
    for (int i = 0; i < PROF_CATS; i++)
        if (src->cat[i] != PROF_NONE)
            bump(dst->cat, dst->cat_w, PROF_CATS, src->cat[i], src->cat_w[i]);
    for (int i = 0; i < PROF_BRANDS; i++)
        if (src->brand[i] != PROF_NONE)
            bump(dst->brand, dst->brand_w, PROF_BRANDS, src->brand[i], src->brand_w[i]);
    dst->log_price_sum += src->log_price_sum;
    dst->price_w += src->price_w;
    for (int i = 0; i < src->ncart; i++)
        cart_add(dst, src->cart[i]);
    for (uint32_t i = 0; i < src->nbought; i++)
        add_bought(dst, src->bought[i].item, src->bought[i].count, src->bought[i].last_s);
    if (src->session_last_ms > dst->session_last_ms) {
        if (dst->session_last_ms && src->session_start_ms - dst->session_last_ms <= PROF_SESSION_GAP_MS) {
            dst->session_events += src->session_events;
        } else {
            dst->session_start_ms = src->session_start_ms;
            dst->session_events = src->session_events;
        }
        dst->session_last_ms = src->session_last_ms;
    }
    prof_clear(src);
}

int prof_recent(const prof_t *p, int k, uint32_t *item, int *type, int64_t *ts_ms)
{
    if (k < 0 || k >= p->recent_n)
        return -1;
    int idx = (p->recent_head + PROF_RECENT - 1 - k) % PROF_RECENT;
    *item = p->recent_item[idx];
    *type = p->recent_type[idx];
    *ts_ms = (int64_t)p->recent_s[idx] * 1000;
    return 0;
}

float prof_cat_weight(const prof_t *p, int i, int64_t now_ms, const prof_config_t *c)
{
    return p->cat[i] == PROF_NONE ? 0 : p->cat_w[i] * decay(p->aff_ms, now_ms, c);
}

float prof_brand_weight(const prof_t *p, int i, int64_t now_ms, const prof_config_t *c)
{
    return p->brand[i] == PROF_NONE ? 0 : p->brand_w[i] * decay(p->aff_ms, now_ms, c);
}

uint32_t prof_bought_count(const prof_t *p, uint32_t item, int64_t *last_ms)
{
    uint32_t pos;
    const prof_bought_t *b = find_bought(p, item, &pos);
    if (last_ms)
        *last_ms = b ? (int64_t)b->last_s * 1000 : 0;
    return b ? b->count : 0;
}

int prof_in_cart(const prof_t *p, uint32_t item)
{
    for (int i = 0; i < p->ncart; i++)
        if (p->cart[i] == item)
            return 1;
    return 0;
}

double prof_price_center(const prof_t *p)
{
    return p->price_w > 0 ? exp(p->log_price_sum / p->price_w) : 0;
}

size_t prof_bytes(const prof_t *p)
{
    return sizeof *p + (size_t)p->bought_cap * sizeof(prof_bought_t);
}
