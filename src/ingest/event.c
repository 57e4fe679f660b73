/* Event validation rules (what the API promises in docs/API.md) and the binary codec.
 * Binary layout: u8 version, u8 type, i64 ts, varint quantity, f64 price (NaN when
 * absent), then seven strings and the properties, each a varint length + bytes. */
#include "event.h"

#include <math.h>
#include <string.h>

#define EVT_CODEC_VERSION 1

static const char *type_names[EVT__COUNT] = {"view", "click", "search", "add_to_cart", "remove_from_cart",
                                             "purchase"};

const char *evt_type_name(evt_type_t t)
{
    return (unsigned)t < EVT__COUNT ? type_names[t] : "unknown";
}

int evt_type_from_name(const char *s)
{
    for (int i = 0; i < EVT__COUNT; i++)
        if (strcmp(s, type_names[i]) == 0)
            return i;
    return -1;
}

static int id_field(json_t *obj, const char *field, int required, strv_t *out, val_error_t *err)
{
    return val_id(obj, field, required, &out->p, &out->n, err);
}

int evt_from_json(json_t *obj, int64_t now_ms, evt_t *e, buf_t *props, val_error_t *err)
{
    memset(e, 0, sizeof *e);
    e->price = -1;
    if (!json_is_object(obj))
        return val_fail(err, "invalid_type", "", "an event must be a JSON object");

    json_t *t = json_object_get(obj, "type");
    if (!t || json_is_null(t))
        return val_fail(err, "missing_field", "type", "type is required");
    if (!json_is_string(t))
        return val_fail(err, "invalid_type", "type", "type must be a string");
    int type = evt_type_from_name(json_string_value(t));
    if (type < 0)
        return val_fail(err, "unknown_event_type", "type",
                        "unknown event type; use view, click, search, add_to_cart, remove_from_cart or purchase");
    e->type = (evt_type_t)type;

    if (id_field(obj, "event_id", 0, &e->event_id, err) || id_field(obj, "user_id", 0, &e->user_id, err) ||
        id_field(obj, "session_id", 0, &e->session_id, err))
        return -1;
    if (!e->user_id.p && !e->session_id.p)
        return val_fail(err, "missing_field", "user_id", "user_id or session_id is required");

    if (e->type == EVT_SEARCH) {
        if (val_string(obj, "query", 1, 1024, &e->query.p, &e->query.n, err))
            return -1;
        if (e->query.n == 0)
            return val_fail(err, "invalid_value", "query", "query must not be empty");
        if (id_field(obj, "item_id", 0, &e->item_id, err))
            return -1;
    } else if (id_field(obj, "item_id", 1, &e->item_id, err)) {
        return -1;
    }
    if (id_field(obj, "order_id", 0, &e->order_id, err) || id_field(obj, "rec_id", 0, &e->rec_id, err))
        return -1;

    json_t *q = json_object_get(obj, "quantity");
    if (q && !json_is_null(q)) {
        if (!json_is_integer(q))
            return val_fail(err, "invalid_type", "quantity", "quantity must be an integer");
        json_int_t qv = json_integer_value(q);
        if (qv < 0)
            return val_fail(err, "invalid_value", "quantity", "quantity must not be negative");
        if (qv == 0 || qv > 1000000)
            return val_fail(err, "invalid_value", "quantity", "quantity must be between 1 and 1000000");
        e->quantity = (uint32_t)qv;
    }
    int has_price;
    double price;
    if (val_nonneg_number(obj, "price", &price, &has_price, err))
        return -1;
    if (has_price)
        e->price = price;
    if (val_timestamp(obj, "ts", now_ms, &e->ts_ms, err))
        return -1;

    json_t *map;
    if (val_string_map(obj, "properties", &map, err))
        return -1;
    if (map && json_object_size(map)) {
        props->len = 0;
        size_t need = json_dumpb(map, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
        buf_reserve(props, need);
        props->len = json_dumpb(map, props->data, need, JSON_COMPACT | JSON_SORT_KEYS);
        e->properties.p = props->data;
        e->properties.n = props->len;
    }
    return 0;
}

static void put_sv(buf_t *out, strv_t s)
{
    buf_put_str(out, s.p ? s.p : "", s.p ? s.n : 0);
}

void evt_encode(const evt_t *e, buf_t *out)
{
    buf_put_u8(out, EVT_CODEC_VERSION);
    buf_put_u8(out, (uint8_t)e->type);
    buf_put_u64(out, (uint64_t)e->ts_ms);
    buf_put_varint(out, e->quantity);
    double price = e->price < 0 ? NAN : e->price;
    uint64_t bits;
    memcpy(&bits, &price, 8);
    buf_put_u64(out, bits);
    put_sv(out, e->event_id);
    put_sv(out, e->user_id);
    put_sv(out, e->session_id);
    put_sv(out, e->item_id);
    put_sv(out, e->query);
    put_sv(out, e->order_id);
    put_sv(out, e->rec_id);
    put_sv(out, e->properties);
}

static int get_sv(rd_t *r, strv_t *s)
{
    if (rd_str(r, &s->p, &s->n))
        return -1;
    if (s->n == 0)
        s->p = NULL;
    return 0;
}

int evt_decode(const void *p, size_t n, evt_t *e)
{
    rd_t r = {p, (const unsigned char *)p + n};
    uint8_t ver, type;
    uint64_t ts, qty, bits;
    memset(e, 0, sizeof *e);
    if (rd_u8(&r, &ver) || ver != EVT_CODEC_VERSION || rd_u8(&r, &type) || type >= EVT__COUNT ||
        rd_u64(&r, &ts) || rd_varint(&r, &qty) || qty > UINT32_MAX || rd_u64(&r, &bits))
        return -1;
    e->type = (evt_type_t)type;
    e->ts_ms = (int64_t)ts;
    e->quantity = (uint32_t)qty;
    double price;
    memcpy(&price, &bits, 8);
    if (!isnan(price) && !(price >= 0 && price <= VAL_MAX_NUMBER))
        return -1; /* no validated event carries such a price */
    e->price = isnan(price) ? -1 : price;
    if (get_sv(&r, &e->event_id) || get_sv(&r, &e->user_id) || get_sv(&r, &e->session_id) ||
        get_sv(&r, &e->item_id) || get_sv(&r, &e->query) || get_sv(&r, &e->order_id) || get_sv(&r, &e->rec_id) ||
        get_sv(&r, &e->properties))
        return -1;
    if (r.p != r.end)
        return -1;
    return 0;
}
