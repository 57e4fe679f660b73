/* Business rules for the marketing team: boost, bury, pin or exclude items matching a
 * tag, category, brand or item id, optionally only inside a time window (a campaign) and
 * only in some scenarios. Rules are durable (log records, like items) and live in the
 * store; rule_apply runs them over an answer's candidates before the final cut.
 * Time windows are wall-clock time: campaigns run on the calendar, not the event stream. */
#ifndef AISLE_RULES_H
#define AISLE_RULES_H

#include "../ingest/valid.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define RULE_MAX 1000

typedef enum { RULE_BOOST, RULE_BURY, RULE_PIN, RULE_EXCLUDE } rule_action_t;
typedef enum { MATCH_TAG, MATCH_CATEGORY, MATCH_BRAND, MATCH_ITEM } rule_match_t;

/* Scenario bits for rule_t.scenarios. */
enum { SCN_FOR_YOU = 1, SCN_BUY_AGAIN = 2, SCN_TRENDING = 4, SCN_POPULAR = 8, SCN_SIMILAR = 16,
       SCN_BOUGHT_TOGETHER = 32, SCN_CART = 64, SCN_RECENTLY_VIEWED = 128, SCN_ALL = 255 };

typedef struct {
    char *id;    /* owned */
    json_t *doc; /* canonical document, owned */
    rule_action_t action;
    rule_match_t match;
    char *value; /* owned: the tag, category path, brand or item id */
    float factor; /* boost (> 1) or bury (< 1) multiplier */
    int position; /* pin: 1-based */
    int64_t start_ms, end_ms; /* 0: open */
    uint32_t scenarios;
} rule_t;

/* Validates a rule (POST /v1/rules); *doc (caller owns) is canonical, with "rule_id" (from
 * the body, or generated from gen_id when absent). */
int rule_from_json(json_t *obj, const char *gen_id, int64_t now_ms, json_t **doc, val_error_t *err);
/* Fills r from a canonical document (a log record); -1 when it is not one. */
int rule_compile(json_t *doc, rule_t *r);
void rule_clear(rule_t *r);
/* Scenario bit of a scenario name; 0 when unknown. */
uint32_t rule_scenario_bit(const char *name);

#endif
