/* Validation helpers shared by the event, item and user parsers. */
#include "valid.h"

#include "../util/timeutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Messages quote input (field names, keys) cut to a length: a cut can split a UTF-8
 * sequence, and the message goes into a JSON answer, so broken sequences become '?'. */
static void fix_utf8(char *s)
{
    for (size_t i = 0; s[i];) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        size_t have = strnlen(s + i, len);
        if (c >= 0x80 && (have < len || !val_utf8(s + i, len))) {
            s[i++] = '?';
            continue;
        }
        i += len;
    }
}

int val_fail(val_error_t *err, const char *code, const char *field, const char *fmt, ...)
{
    err->code = code;
    err->field = field;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    fix_utf8(err->message);
    return -1;
}

int val_string(json_t *obj, const char *field, int required, size_t max, const char **s, size_t *n,
               val_error_t *err)
{
    json_t *v = json_object_get(obj, field);
    *s = NULL;
    *n = 0;
    if (!v || json_is_null(v)) {
        if (required)
            return val_fail(err, "missing_field", field, "%s is required", field);
        return 0;
    }
    if (!json_is_string(v))
        return val_fail(err, "invalid_type", field, "%s must be a string", field);
    size_t len = json_string_length(v);
    if (len > max)
        return val_fail(err, "too_long", field, "%s is longer than %zu bytes", field, max);
    *s = json_string_value(v);
    *n = len;
    return 0;
}

int val_id(json_t *obj, const char *field, int required, const char **s, size_t *n, val_error_t *err)
{
    json_t *v = json_object_get(obj, field);
    *s = NULL;
    *n = 0;
    if (!v || json_is_null(v)) {
        if (required)
            return val_fail(err, "missing_field", field, "%s is required", field);
        return 0;
    }
    if (!json_is_string(v))
        return val_fail(err, "invalid_type", field, "%s must be a string", field);
    size_t len = json_string_length(v);
    if (len == 0)
        return val_fail(err, "invalid_id", field, "%s must not be empty", field);
    if (len > VAL_MAX_ID)
        return val_fail(err, "invalid_id", field, "%s is longer than %d bytes", field, VAL_MAX_ID);
    const char *str = json_string_value(v);
    if (memchr(str, '\0', len))
        return val_fail(err, "invalid_id", field, "%s must not contain NUL", field);
    *s = str;
    *n = len;
    return 0;
}

int val_nonneg_number(json_t *obj, const char *field, double *v, int *present, val_error_t *err)
{
    json_t *j = json_object_get(obj, field);
    *present = 0;
    if (!j || json_is_null(j))
        return 0;
    if (!json_is_number(j))
        return val_fail(err, "invalid_type", field, "%s must be a number", field);
    double d = json_number_value(j);
    if (!isfinite(d) || d < 0)
        return val_fail(err, "invalid_value", field, "%s must not be negative", field);
    if (d > VAL_MAX_NUMBER)
        return val_fail(err, "invalid_value", field, "%s must be at most %.0e", field, VAL_MAX_NUMBER);
    *v = d;
    *present = 1;
    return 0;
}

#define DAY_MS (24ll * 3600 * 1000)

int val_timestamp(json_t *obj, const char *field, int64_t now_ms, int64_t *ms, val_error_t *err)
{
    json_t *j = json_object_get(obj, field);
    if (!j || json_is_null(j)) {
        *ms = now_ms;
        return 0;
    }
    int64_t t;
    if (json_is_integer(j)) {
        t = (int64_t)json_integer_value(j);
        if (t < 0)
            return val_fail(err, "invalid_timestamp", field, "%s must not be negative", field);
    } else if (json_is_string(j)) {
        if (time_parse_rfc3339(json_string_value(j), json_string_length(j), &t) != 0)
            return val_fail(err, "invalid_timestamp", field,
                            "%s must be RFC 3339 (2026-11-25T09:30:00Z) or epoch milliseconds", field);
        if (t < 0)
            return val_fail(err, "invalid_timestamp", field, "%s is before 1970", field);
    } else {
        return val_fail(err, "invalid_type", field, "%s must be an RFC 3339 string or epoch milliseconds", field);
    }
    if (t > now_ms + DAY_MS)
        return val_fail(err, "timestamp_in_future", field, "%s is more than 24 hours in the future", field);
    *ms = t;
    return 0;
}

int val_string_map(json_t *obj, const char *field, json_t **map, val_error_t *err)
{
    json_t *j = json_object_get(obj, field);
    *map = NULL;
    if (!j || json_is_null(j))
        return 0;
    if (!json_is_object(j))
        return val_fail(err, "invalid_type", field, "%s must be an object of strings", field);
    if (json_object_size(j) > 256)
        return val_fail(err, "too_long", field, "%s has more than 256 keys", field);
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        if (!json_is_string(v))
            return val_fail(err, "invalid_type", field, "%s.%s must be a string", field, k);
        if (strlen(k) > VAL_MAX_ID || json_string_length(v) > 4096)
            return val_fail(err, "too_long", field, "%s.%s: key over 256 or value over 4096 bytes", field, k);
    }
    *map = j;
    return 0;
}

int val_string_array(json_t *obj, const char *field, size_t max_count, size_t max_each, json_t **arr,
                     val_error_t *err)
{
    json_t *j = json_object_get(obj, field);
    *arr = NULL;
    if (!j || json_is_null(j))
        return 0;
    if (!json_is_array(j))
        return val_fail(err, "invalid_type", field, "%s must be an array of strings", field);
    if (json_array_size(j) > max_count)
        return val_fail(err, "too_long", field, "%s has more than %zu entries", field, max_count);
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v)
    {
        if (!json_is_string(v))
            return val_fail(err, "invalid_type", field, "%s[%zu] must be a string", field, i);
        if (json_string_length(v) == 0 || json_string_length(v) > max_each)
            return val_fail(err, "invalid_value", field, "%s[%zu] must be 1 to %zu bytes", field, i, max_each);
    }
    *arr = j;
    return 0;
}

int val_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p++;
        if (c < 0x80)
            continue;
        int extra;
        unsigned min;
        if (c >= 0xc2 && c <= 0xdf) {
            extra = 1;
            min = 0x80;
            c &= 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
            min = 0x800;
            c &= 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
            min = 0x10000;
            c &= 0x07;
        } else {
            return 0;
        }
        if (end - p < extra)
            return 0;
        for (int i = 0; i < extra; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (p[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        p += extra;
    }
    return 1;
}
