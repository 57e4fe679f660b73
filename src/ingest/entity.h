/* Catalog items and customer records as the shop sends them (PUT /v1/items/{id},
 * PUT /v1/users/{id}): validation into a canonical JSON document holding only known
 * fields, which is what the log stores and GET returns; and the cut of an item document
 * that a recommendation answer carries (`fields=`). */
#ifndef AISLE_ENTITY_H
#define AISLE_ENTITY_H

#include "../util/buf.h"
#include "valid.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The fields an item document can hold (NULL-terminated), and the index of the one named
 * by s[0..n) or -1: what `fields=` of the recommendation endpoints may ask for. */
#define ENT_ITEM_NFIELDS 11
extern const char *const ent_item_fields[ENT_ITEM_NFIELDS + 1];
int ent_item_field(const char *s, size_t n);
/* Appends to out the members of doc[0..len) whose fields' bits (1 << index in
 * ent_item_fields) are in mask, as an object, each member copied as it is written. doc
 * is an item document as the store keeps it: one object in compact JSON as jansson
 * writes it (what st_dump_doc gives). Returns 0, or -1 with "{}" appended when doc is not
 * of that shape (never reading past len). */
int ent_item_project(buf_t *out, const char *doc, size_t len, uint32_t mask);

/* Validates an item; *doc (caller owns) gets the canonical document including
 * "item_id". id may be NULL to take it from obj's "item_id" (batch upsert). */
int ent_item_from_json(json_t *obj, const char *id, int64_t now_ms, json_t **doc, val_error_t *err);
/* Validates a customer record; *doc (caller owns) includes "user_id". */
int ent_user_from_json(json_t *obj, const char *id, json_t **doc, val_error_t *err);

#endif
