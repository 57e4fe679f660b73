/* Item and customer validation. Unknown top-level fields are refused so that a typo
 * ("prize") does not silently drop data. */
#include "entity.h"

#include "../util/buf.h"
#include "../util/timeutil.h"
#include "jsonscan.h"

#include <ctype.h>
#include <stdlib.h>
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

const char *const ent_item_fields[ENT_ITEM_NFIELDS + 1] = {
    "item_id", "title", "description", "categories", "brand", "price", "currency", "tags", "in_stock", "attributes",
    "created_at", NULL};

int ent_item_field(const char *s, size_t n)
{
    for (int i = 0; i < ENT_ITEM_NFIELDS; i++)
        if (strlen(ent_item_fields[i]) == n && memcmp(ent_item_fields[i], s, n) == 0)
            return i;
    return -1;
}

int ent_item_project(buf_t *out, const char *doc, size_t len, uint32_t mask)
{
    /* The scanner decodes escaped strings into an arena as large as its input; only
     * what it skips is decoded, and nothing of it is kept. */
    char small[4096], *arena = len <= sizeof small ? small : malloc(len);
    if (!arena)
        abort();
    size_t start = out->len;
    val_error_t err;
    js_t j;
    js_init(&j, doc, len, arena, &err);
    if (js_expect(&j, '{'))
        goto bad;
    j.depth = 1;
    buf_puts(out, "{");
    js_skip_ws(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
    } else {
        for (int first = 1;;) {
            js_skip_ws(&j);
            const char *from = j.p, *k;
            size_t kn;
            if (js_peek(&j) != JS_STRING || js_string(&j, &k, &kn) || js_expect(&j, ':') || js_skip(&j))
                goto bad;
            int f = ent_item_field(k, kn);
            if (f >= 0 && f < 32 && (mask & (1u << f))) { /* the member as it is written */
                if (!first)
                    buf_puts(out, ",");
                buf_append(out, from, (size_t)(j.p - from));
                first = 0;
            }
            int more = js_next(&j, '}');
            if (more < 0)
                goto bad;
            if (!more)
                break;
        }
    }
    js_skip_ws(&j);
    if (j.p != j.end)
        goto bad;
    buf_puts(out, "}");
    if (arena != small)
        free(arena);
    return 0;
bad:
    out->len = start;
    buf_puts(out, "{}");
    if (arena != small)
        free(arena);
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
