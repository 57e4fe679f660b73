/* Body splitting: whole-body JSON first, line mode for NDJSON. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

void bat_json_error(const json_error_t *je, val_error_t *err)
{
    if (json_error_code(je) == json_error_invalid_utf8)
        val_fail(err, "invalid_utf8", "", "body is not valid UTF-8 (line %d, column %d)", je->line, je->column);
    else
        val_fail(err, "invalid_json", "", "malformed JSON at line %d, column %d: %.120s", je->line, je->column,
                 je->text);
}

static void push(bat_t *b, size_t *cap, json_t *val, const val_error_t *err)
{
    if (b->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        b->v = realloc(b->v, *cap * sizeof *b->v);
        if (!b->v)
            abort();
    }
    bat_elem_t *e = &b->v[b->n++];
    e->val = val;
    if (err)
        e->err = *err;
    else
        memset(&e->err, 0, sizeof e->err);
}

static int only_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return 0;
    return 1;
}

static int parse_lines(const char *body, size_t len, size_t max, bat_t *b, size_t *cap, val_error_t *err)
{
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (!only_space(p, (size_t)(le - p))) {
            if (b->n == max)
                return val_fail(err, "batch_too_large", "", "more than %zu records in one request", max), 413;
            json_error_t je;
            json_t *v = json_loadb(p, (size_t)(le - p), JSON_DECODE_ANY, &je);
            if (v) {
                push(b, cap, v, NULL);
            } else {
                val_error_t e;
                bat_json_error(&je, &e);
                push(b, cap, NULL, &e);
            }
        }
        p = le + 1;
    }
    return 0;
}

int bat_parse(const char *body, size_t len, int ndjson, size_t max, bat_t *b, val_error_t *err)
{
    memset(b, 0, sizeof *b);
    size_t cap = 0;
    int rc = 0;
    if (only_space(body, len))
        return val_fail(err, "empty_batch", "", "the request body holds no records"), 400;
    if (ndjson) {
        rc = parse_lines(body, len, max, b, &cap, err);
    } else {
        json_error_t je;
        json_t *root = json_loadb(body, len, JSON_DECODE_ANY, &je);
        if (!root) {
            if (json_error_code(&je) == json_error_end_of_input_expected)
                rc = parse_lines(body, len, max, b, &cap, err);
            else
                return bat_json_error(&je, err), 400;
        } else if (json_is_array(root)) {
            if (json_array_size(root) > max) {
                json_decref(root);
                return val_fail(err, "batch_too_large", "", "more than %zu records in one request", max), 413;
            }
            size_t i;
            json_t *v;
            json_array_foreach(root, i, v) push(b, &cap, json_incref(v), NULL);
            json_decref(root);
        } else {
            push(b, &cap, root, NULL);
        }
    }
    if (rc == 0 && b->n == 0)
        rc = (val_fail(err, "empty_batch", "", "the request body holds no records"), 400);
    if (rc)
        bat_free(b);
    return rc;
}

void bat_free(bat_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        json_decref(b->v[i].val);
    free(b->v);
    b->v = NULL;
    b->n = 0;
}
