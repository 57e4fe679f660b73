/* Item and customer validation. Unknown top-level fields are refused so that a typo
 * ("prize") does not silently drop data. */
#include "entity.h"

#include "../util/buf.h"
#include "../util/timeutil.h"

#include <ctype.h>
#include <string.h>

static int check_known(json_t *obj, const char *const *known, val_error_t *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        int ok = 0;
        for (const char *const *p = known; *p; p++)
            if (strcmp(k, *p) == 0) {
                ok = 1;
                break;
            }
        if (!ok)
            return val_fail(err, "unknown_field", k, "unknown field %.100s", k);
    }
    return 0;
}

static int copy_string(json_t *obj, json_t *doc, const char *field, size_t max, val_error_t *err)
{
    const char *s;
    size_t n;
    if (val_string(obj, field, 0, max, &s, &n, err))
        return -1;
    if (s)
        json_object_set_new(doc, field, json_stringn(s, n));
    return 0;
}

static int take_id(json_t *obj, const char *field, const char *id, json_t *doc, val_error_t *err)
{
    const char *s;
    size_t n;
    if (id) {
        n = strlen(id);
        if (n == 0 || n > VAL_MAX_ID)
            return val_fail(err, "invalid_id", field, "%s must be 1 to %d bytes", field, VAL_MAX_ID);
        json_object_set_new(doc, field, json_stringn(id, n));
        return 0;
    }
    if (val_id(obj, field, 1, &s, &n, err))
        return -1;
    json_object_set_new(doc, field, json_stringn(s, n));
    return 0;
}

#define ITEM_FIELDS                                                                                            \
    X(item_id) X(title) X(description) X(categories) X(brand) X(price) X(currency) X(tags) X(in_stock)        \
        X(attributes) X(created_at)
#define X(f) #f,
const char *const ent_item_fields[ENT_ITEM_NFIELDS + 1] = {ITEM_FIELDS NULL};
_Static_assert(sizeof((const char *[]){ITEM_FIELDS}) == ENT_ITEM_NFIELDS * sizeof(const char *),
               "ENT_ITEM_NFIELDS counts ITEM_FIELDS");
#undef X

int ent_item_field(const char *s, size_t n)
{
#define X(f) sizeof #f - 1,
    static const uint8_t len[ENT_ITEM_NFIELDS] = {ITEM_FIELDS};
#undef X
    for (int i = 0; i < ENT_ITEM_NFIELDS; i++)
        if (len[i] == n && memcmp(ent_item_fields[i], s, n) == 0)
            return i;
    return -1;
}

/* Past the string whose opening quote is at p[-1]: its closing quote found by memchr (the
 * bytes of a document are mostly its strings), skipping quotes an odd run of backslashes
 * escapes. Never past end. */
static const char *string_end(const char *p, const char *end)
{
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q)
            return end;
        const char *b = q;
        while (b > p && b[-1] == '\\')
            b--;
        if ((q - b) % 2 == 0)
            return q + 1;
        p = q + 1;
    }
}

/* Where the JSON value at p ends, in text as jansson writes it (valid, no whitespace): past
 * a string or a container, at the ',' or closing bracket after a scalar. Never past end. */
static const char *value_end(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        char c = *p++;
        if (c == '"') {
            p = string_end(p, end);
            if (!depth)
                return p;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']' || c == ',') {
            if (!depth)
                return p - 1; /* the end of a scalar */
            if (c != ',' && --depth == 0)
                return p;
        }
    }
    return end;
}

int ent_item_project(buf_t *out, const char *doc, size_t len, uint32_t mask)
{
    /* A walk over member boundaries, not a parse: the text is what the store wrote, and
     * the event reader's full checks of every string and number cost 2 us an item. */
    const char *p = doc, *end = doc + len;
    size_t start = out->len;
    if (p == end || *p++ != '{')
        goto bad;
    buf_puts(out, "{");
    int first = 1;
    /* A document names each field once: the walk stops at the last one asked for. */
    uint32_t left = mask & ((1u << ENT_ITEM_NFIELDS) - 1);
    while (left && p < end && *p != '}') {
        if (*p != '"')
            goto bad;
        const char *k = p + 1, *colon = value_end(p, end);
        if (colon >= end || *colon != ':' || colon - 1 < k)
            goto bad;
        const char *vend = value_end(colon + 1, end);
        int f = ent_item_field(k, (size_t)(colon - 1 - k));
        if (f >= 0 && (left & (1u << f))) { /* the member as it is written */
            if (!first)
                buf_puts(out, ",");
            buf_append(out, p, (size_t)(vend - p));
            first = 0;
            left &= ~(1u << f);
        }
        p = vend;
        if (p < end && *p == ',')
            p++;
    }
    if (left && (p == end || p + 1 != end))
        goto bad;
    buf_puts(out, "}");
    return 0;
bad:
    out->len = start;
    buf_puts(out, "{}");
    return -1;
}

int ent_item_from_json(json_t *obj, const char *id, int64_t now_ms, json_t **out, val_error_t *err)
{
    *out = NULL;
    if (!json_is_object(obj))
        return val_fail(err, "invalid_type", "", "an item must be a JSON object");
    if (check_known(obj, ent_item_fields, err))
        return -1;
    json_t *doc = json_object();
    json_t *arr, *attrs;
    double price;
    int has_price;
    const char *cur;
    size_t curn;
    if (take_id(obj, "item_id", id, doc, err) || copy_string(obj, doc, "title", 1024, err) ||
        copy_string(obj, doc, "description", 65536, err) || copy_string(obj, doc, "brand", 256, err))
        goto fail;
    if (val_string_array(obj, "categories", 16, 256, &arr, err))
        goto fail;
    if (arr)
        json_object_set(doc, "categories", arr);
    if (val_nonneg_number(obj, "price", &price, &has_price, err))
        goto fail;
    if (has_price)
        json_object_set_new(doc, "price", json_real(price));
    if (val_string(obj, "currency", 0, 16, &cur, &curn, err))
        goto fail;
    if (cur) {
        if (curn != 3 || !isupper((unsigned char)cur[0]) || !isupper((unsigned char)cur[1]) ||
            !isupper((unsigned char)cur[2])) {
            val_fail(err, "invalid_value", "currency", "currency must be an ISO 4217 code such as \"EUR\"");
            goto fail;
        }
        json_object_set_new(doc, "currency", json_stringn(cur, 3));
    }
    if (val_string_array(obj, "tags", 256, 256, &arr, err))
        goto fail;
    if (arr)
        json_object_set(doc, "tags", arr);
    json_t *stock = json_object_get(obj, "in_stock");
    if (stock && !json_is_null(stock) && !json_is_boolean(stock)) {
        val_fail(err, "invalid_type", "in_stock", "in_stock must be true or false");
        goto fail;
    }
    json_object_set_new(doc, "in_stock", json_boolean(!stock || json_is_null(stock) || json_is_true(stock)));
    attrs = json_object_get(obj, "attributes");
    if (attrs && !json_is_null(attrs)) {
        if (!json_is_object(attrs)) {
            val_fail(err, "invalid_type", "attributes", "attributes must be an object");
            goto fail;
        }
        json_object_set(doc, "attributes", attrs);
    }
    if (json_object_get(obj, "created_at")) {
        int64_t ms;
        if (val_timestamp(obj, "created_at", now_ms, &ms, err))
            goto fail;
        char ts[32];
        time_format_rfc3339(ms, ts);
        json_object_set_new(doc, "created_at", json_string(ts));
    }
    *out = doc;
    return 0;
fail:
    json_decref(doc);
    return -1;
}

static const char *const user_fields[] = {"user_id", "age_band", "gender", "country", "loyalty_tier",
                                          "attributes", "consent", NULL};

int ent_user_from_json(json_t *obj, const char *id, json_t **out, val_error_t *err)
{
    *out = NULL;
    if (!json_is_object(obj))
        return val_fail(err, "invalid_type", "", "a customer record must be a JSON object");
    if (check_known(obj, user_fields, err))
        return -1;
    json_t *doc = json_object();
    if (take_id(obj, "user_id", id, doc, err) || copy_string(obj, doc, "age_band", 64, err) ||
        copy_string(obj, doc, "gender", 64, err) || copy_string(obj, doc, "country", 64, err) ||
        copy_string(obj, doc, "loyalty_tier", 64, err))
        goto fail;
    json_t *attrs = json_object_get(obj, "attributes");
    if (attrs && !json_is_null(attrs)) {
        if (!json_is_object(attrs)) {
            val_fail(err, "invalid_type", "attributes", "attributes must be an object");
            goto fail;
        }
        json_object_set(doc, "attributes", attrs);
    }
    json_t *consent = json_object_get(obj, "consent");
    if (consent && !json_is_null(consent)) {
        if (!json_is_object(consent)) {
            val_fail(err, "invalid_type", "consent", "consent must be an object of booleans");
            goto fail;
        }
        json_t *c = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(consent, k, v)
        {
            if (strcmp(k, "personalization") != 0 && strcmp(k, "analytics") != 0) {
                json_decref(c);
                val_fail(err, "unknown_field", "consent", "unknown consent flag %.60s (personalization, analytics)", k);
                goto fail;
            }
            if (!json_is_boolean(v)) {
                json_decref(c);
                val_fail(err, "invalid_type", "consent", "consent.%s must be true or false", k);
                goto fail;
            }
            json_object_set(c, k, v);
        }
        json_object_set_new(doc, "consent", c);
    }
    *out = doc;
    return 0;
fail:
    json_decref(doc);
    return -1;
}
