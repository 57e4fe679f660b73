/* Catalog items and customer records as the shop sends them (PUT /v1/items/{id},
 * PUT /v1/users/{id}): validation into a canonical JSON document holding only known
 * fields, which is what the log stores and GET returns. */
#ifndef AISLE_ENTITY_H
#define AISLE_ENTITY_H

#include "valid.h"

#include <jansson.h>
#include <stdint.h>

/* Validates an item; *doc (caller owns) gets the canonical document including
 * "item_id". id may be NULL to take it from obj's "item_id" (batch upsert). */
int ent_item_from_json(json_t *obj, const char *id, int64_t now_ms, json_t **doc, val_error_t *err);
/* Validates a customer record; *doc (caller owns) includes "user_id". */
int ent_user_from_json(json_t *obj, const char *id, json_t **doc, val_error_t *err);

#endif
