/* Rule validation and compilation. Application is in recs.c, which knows the candidates. */
#include "rules.h"

#include "../util/timeutil.h"

#include <stdlib.h>
#include <string.h>

static const char *actions[] = {"boost", "bury", "pin", "exclude"};
static const char *matches[] = {"tag", "category", "brand", "item_id"};
static const char *scenario_names[] = {"for_you", "buy_again", "trending",        "popular",
                                       "similar", "bought_together", "cart", "recently_viewed"};
#define NSCENARIOS (int)(sizeof scenario_names / sizeof scenario_names[0])
_Static_assert(SCN_ALL == (1 << (sizeof scenario_names / sizeof scenario_names[0])) - 1, "a bit per scenario name");

uint32_t rule_scenario_bit(const char *name)
{
    for (int i = 0; i < NSCENARIOS; i++)
        if (strcmp(name, scenario_names[i]) == 0)
            return 1u << i;
    return 0;
}

static int index_of(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

int rule_from_json(json_t *obj, const char *gen_id, int64_t now_ms, json_t **out, val_error_t *err)
{
    *out = NULL;
    if (!json_is_object(obj))
        return val_fail(err, "invalid_type", "", "a rule must be a JSON object");
    static const char *known[] = {"rule_id", "action", "match", "factor", "position", "start", "end", "scenarios",
                                  "description"};
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (index_of(known, 9, k) < 0)
            return val_fail(err, "unknown_field", k, "unknown field %.100s", k);
    }
    json_t *doc = json_object();
    const char *s;
    size_t n;
    if (val_id(obj, "rule_id", 0, &s, &n, err))
        goto fail;
    json_object_set_new(doc, "rule_id", s ? json_stringn(s, n) : json_string(gen_id));
    if (val_string(obj, "action", 1, 32, &s, &n, err))
        goto fail;
    int action = index_of(actions, 4, s);
    if (action < 0) {
        val_fail(err, "invalid_value", "action", "action must be boost, bury, pin or exclude");
        goto fail;
    }
    json_object_set_new(doc, "action", json_string(actions[action]));

    json_t *m = json_object_get(obj, "match");
    if (!m) {
        val_fail(err, "missing_field", "match", "match is required, e.g. {\"tag\":\"summer\"}");
        goto fail;
    }
    if (!json_is_object(m) || json_object_size(m) != 1) {
        val_fail(err, "invalid_type", "match", "match must be an object with one of tag, category, brand, item_id");
        goto fail;
    }
    json_object_foreach(m, k, v)
    {
        if (index_of(matches, 4, k) < 0) {
            val_fail(err, "invalid_value", "match", "match must use tag, category, brand or item_id");
            goto fail;
        }
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 1024) {
            val_fail(err, "invalid_type", "match", "match.%s must be a non-empty string", k);
            goto fail;
        }
    }
    json_object_set(doc, "match", m);

    json_t *f = json_object_get(obj, "factor");
    if (action == RULE_BOOST || action == RULE_BURY) {
        double d = action == RULE_BOOST ? 2.0 : 0.2;
        if (f) {
            if (!json_is_number(f)) {
                val_fail(err, "invalid_type", "factor", "factor must be a number");
                goto fail;
            }
            d = json_number_value(f);
            if (action == RULE_BOOST ? !(d > 1 && d <= 1000) : !(d >= 0 && d < 1)) {
                val_fail(err, "invalid_value", "factor",
                         action == RULE_BOOST ? "a boost factor is above 1 (up to 1000)" : "a bury factor is from 0 to below 1");
                goto fail;
            }
        }
        json_object_set_new(doc, "factor", json_real(d));
    } else if (f) {
        val_fail(err, "invalid_value", "factor", "factor is for boost and bury rules");
        goto fail;
    }
    json_t *p = json_object_get(obj, "position");
    if (action == RULE_PIN) {
        json_int_t pos = 1;
        if (p) {
            if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 100) {
                val_fail(err, "invalid_value", "position", "position must be an integer from 1 to 100");
                goto fail;
            }
            pos = json_integer_value(p);
        }
        json_object_set_new(doc, "position", json_integer(pos));
    } else if (p) {
        val_fail(err, "invalid_value", "position", "position is for pin rules");
        goto fail;
    }
    int64_t start = 0, end = 0;
    const char *win[2] = {"start", "end"};
    int64_t *dst[2] = {&start, &end};
    for (int i = 0; i < 2; i++) {
        json_t *t = json_object_get(obj, win[i]);
        if (!t || json_is_null(t))
            continue;
        /* Campaign dates may lie far ahead: parse without the "24 h ahead" limit. */
        if (json_is_string(t)) {
            if (time_parse_rfc3339(json_string_value(t), json_string_length(t), dst[i]) != 0) {
                val_fail(err, "invalid_timestamp", win[i], "%s must be RFC 3339 or epoch milliseconds", win[i]);
                goto fail;
            }
        } else if (json_is_integer(t) && json_integer_value(t) >= 0) {
            *dst[i] = json_integer_value(t);
        } else {
            val_fail(err, "invalid_timestamp", win[i], "%s must be RFC 3339 or epoch milliseconds", win[i]);
            goto fail;
        }
        char ts[32];
        time_format_rfc3339(*dst[i], ts);
        json_object_set_new(doc, win[i], json_string(ts));
    }
    if (start && end && end <= start) {
        val_fail(err, "invalid_value", "end", "end must be after start");
        goto fail;
    }
    (void)now_ms;
    json_t *sc = json_object_get(obj, "scenarios");
    if (sc) {
        if (!json_is_array(sc) || json_array_size(sc) == 0) {
            val_fail(err, "invalid_type", "scenarios", "scenarios must be a non-empty array of scenario names");
            goto fail;
        }
        size_t i;
        json_array_foreach(sc, i, v)
        {
            if (!json_is_string(v) || !rule_scenario_bit(json_string_value(v))) {
                val_fail(err, "invalid_value", "scenarios",
                         "scenarios[%zu]: use for_you, buy_again, trending, popular, similar, bought_together, cart, "
                         "recently_viewed",
                         i);
                goto fail;
            }
        }
        json_object_set(doc, "scenarios", sc);
    }
    if (val_string(obj, "description", 0, 1024, &s, &n, err))
        goto fail;
    if (s)
        json_object_set_new(doc, "description", json_stringn(s, n));
    *out = doc;
    return 0;
fail:
    json_decref(doc);
    return -1;
}

void rule_clear(rule_t *r)
{
    free(r->id);
    free(r->value);
    json_decref(r->doc);
    memset(r, 0, sizeof *r);
}

int rule_compile(json_t *doc, rule_t *r)
{
    memset(r, 0, sizeof *r);
    json_t *id = json_object_get(doc, "rule_id"), *a = json_object_get(doc, "action"),
           *m = json_object_get(doc, "match");
    if (!json_is_string(id) || !json_is_string(a) || !json_is_object(m) || json_object_size(m) != 1)
        return -1;
    int action = index_of(actions, 4, json_string_value(a));
    if (action < 0)
        return -1;
    const char *k;
    json_t *v;
    int match = -1;
    const char *value = NULL;
    json_object_foreach(m, k, v)
    {
        match = index_of(matches, 4, k);
        value = json_string_value(v);
    }
    if (match < 0 || !value)
        return -1;
    r->action = (rule_action_t)action;
    r->match = (rule_match_t)match;
    r->id = strdup(json_string_value(id));
    r->value = strdup(value);
    r->factor = json_is_number(json_object_get(doc, "factor")) ? (float)json_number_value(json_object_get(doc, "factor")) : 1;
    r->position = json_is_integer(json_object_get(doc, "position")) ? (int)json_integer_value(json_object_get(doc, "position")) : 1;
    json_t *t = json_object_get(doc, "start");
    if (json_is_string(t))
        time_parse_rfc3339(json_string_value(t), json_string_length(t), &r->start_ms);
    t = json_object_get(doc, "end");
    if (json_is_string(t))
        time_parse_rfc3339(json_string_value(t), json_string_length(t), &r->end_ms);
    json_t *sc = json_object_get(doc, "scenarios");
    r->scenarios = sc ? 0 : SCN_ALL;
    size_t i;
    json_array_foreach(sc, i, v) if (json_is_string(v)) r->scenarios |= rule_scenario_bit(json_string_value(v));
    r->doc = json_incref(doc);
    return 0;
}
