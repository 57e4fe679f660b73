/* Business rules endpoints: POST/PUT/GET/DELETE /v1/rules. Rules are log records like
 * items, so they survive restarts; see docs/API.md, "Business rules". */
#include "server.h"

#include "../util/timeutil.h"

#include <stdio.h>
#include <string.h>

/* Creates or replaces a rule; id from the path (PUT) or the body or generated (POST). */
void api_rule_put(h2o_req_t *req, const char *path_id)
{
    srv_t *srv = srv_thread_of(req)->srv;
    json_error_t je;
    json_t *obj = json_loadb(req->entity.base, req->entity.len, 0, &je);
    if (!obj) {
        srv_error(req, 400, "invalid_json", NULL, "malformed JSON at line %d, column %d: %s", je.line, je.column,
                  je.text);
        return;
    }
    if (path_id && json_is_object(obj))
        json_object_set_new(obj, "rule_id", json_string(path_id));
    char gen[64];
    snprintf(gen, sizeof gen, "rule-%llx-%x", (unsigned long long)time_now_ms(), atomic_fetch_add(&srv->rule_seq, 1));
    json_t *doc;
    val_error_t err;
    int rc = rule_from_json(obj, gen, time_now_ms(), &doc, &err);
    json_decref(obj);
    if (rc != 0) {
        srv_error(req, 400, err.code, err.field, "%s", err.message);
        return;
    }
    const char *id = json_string_value(json_object_get(doc, "rule_id"));
    buf_t payload, body;
    buf_init(&payload);
    buf_init(&body);
    st_encode_doc(&payload, id, strlen(id), doc);
    pthread_rwlock_wrlock(&srv->st->lock);
    int existed = st_rule_find(srv->st, id) >= 0;
    if (!existed && srv->st->nrules >= RULE_MAX) {
        pthread_rwlock_unlock(&srv->st->lock);
        buf_free(&payload);
        json_decref(doc);
        srv_error(req, 400, "too_many_rules", NULL, "at most %d rules; delete some first", RULE_MAX);
        return;
    }
    uint64_t lsn = log_append(srv->log, REC_RULE_PUT, payload.data, payload.len);
    st_apply(srv->st, REC_RULE_PUT, payload.data, payload.len);
    pthread_rwlock_unlock(&srv->st->lock);
    st_dump_doc(&body, doc);
    buf_free(&payload);
    json_decref(doc);
    srv_respond(req, existed ? 200 : 201, &body, lsn);
}

void api_rule_get(h2o_req_t *req, const char *id)
{
    srv_t *srv = srv_thread_of(req)->srv;
    buf_t b;
    buf_init(&b);
    pthread_rwlock_rdlock(&srv->st->lock);
    if (id) {
        int at = st_rule_find(srv->st, id);
        if (at >= 0)
            st_dump_doc(&b, srv->st->rules[at].doc);
        pthread_rwlock_unlock(&srv->st->lock);
        if (at < 0) {
            buf_free(&b);
            srv_error(req, 404, "not_found", "rule_id", "no rule with id %s", id);
            return;
        }
    } else {
        int64_t now = time_now_ms();
        buf_puts(&b, "{\"rules\":[");
        for (uint32_t i = 0; i < srv->st->nrules; i++) {
            const rule_t *r = &srv->st->rules[i];
            if (i)
                buf_puts(&b, ",");
            st_dump_doc(&b, r->doc);
            /* Say whether it is in force now, for the person reading the list. */
            b.len--;
            int active = (!r->start_ms || now >= r->start_ms) && (!r->end_ms || now < r->end_ms);
            buf_printf(&b, ",\"active\":%s}", active ? "true" : "false");
        }
        buf_puts(&b, "]}");
        pthread_rwlock_unlock(&srv->st->lock);
    }
    srv_respond(req, 200, &b, 0);
}

void api_rule_delete(h2o_req_t *req, const char *id)
{
    srv_t *srv = srv_thread_of(req)->srv;
    buf_t payload;
    buf_init(&payload);
    st_encode_id(&payload, id, strlen(id));
    pthread_rwlock_wrlock(&srv->st->lock);
    if (st_rule_find(srv->st, id) < 0) {
        pthread_rwlock_unlock(&srv->st->lock);
        buf_free(&payload);
        srv_error(req, 404, "not_found", "rule_id", "no rule with id %s", id);
        return;
    }
    uint64_t lsn = log_append(srv->log, REC_RULE_DEL, payload.data, payload.len);
    st_apply(srv->st, REC_RULE_DEL, payload.data, payload.len);
    pthread_rwlock_unlock(&srv->st->lock);
    buf_free(&payload);
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "{\"rule_id\":");
    buf_put_json_str(&b, id, strlen(id));
    buf_puts(&b, ",\"deleted\":true}");
    srv_respond(req, 200, &b, lsn);
}
