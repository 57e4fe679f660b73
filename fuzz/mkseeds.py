#!/usr/bin/env python3
"""Writes the binary seed corpora: corpus/fuzz-record (log record payloads) and
corpus/fuzz-log (segment files). Run from anywhere; overwrites the files it names.

Formats (src/ingest/event.c, src/store/state.c, src/store/log.c), all little endian:
  event payload  u8 version=1, u8 type, i64 ts_ms, varint quantity, f64 price (NaN when
                 absent), then event_id, user_id, session_id, item_id, query, order_id,
                 rec_id, properties, each a varint length + bytes
  doc payload    varint id length + id, then the compact JSON document
  segment        "AISLELOG", u32 version=1, u32 0, then records
                 [u32 len][u32 crc32c(type + payload)][u8 type][payload], len = 1 + payload
"""
import math
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
REC_EVENT, REC_ITEM_PUT, REC_ITEM_DEL, REC_USER_PUT = 1, 2, 3, 4
TYPES = ["view", "click", "search", "add_to_cart", "remove_from_cart", "purchase"]


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_T = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the CRC32C check value


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def s(x):
    b = x.encode() if isinstance(x, str) else (x or b"")
    return varint(len(b)) + b


def event(type_, ts=1764000000000, qty=0, price=None, event_id="", user_id="", session_id="", item_id="",
          query="", order_id="", rec_id="", props=""):
    p = struct.pack("<BBq", 1, TYPES.index(type_), ts) + varint(qty)
    p += struct.pack("<d", math.nan if price is None else price)
    for f in (event_id, user_id, session_id, item_id, query, order_id, rec_id, props):
        p += s(f)
    return p


def doc(id_, json_text):
    return s(id_) + json_text.encode()


def record(type_, payload):
    body = bytes([type_]) + payload
    return struct.pack("<II", len(body), crc32c(body)) + body


HEADER = b"AISLELOG" + struct.pack("<II", 1, 0)


def write(sub, name, data):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


ITEM = '{"item_id":"i1","title":"Kettle","categories":["Home","Kitchen"],"brand":"Acme","price":29.9,"in_stock":true}'
USER = '{"user_id":"u1","country":"DE","consent":{"personalization":true}}'

events = {
    "view": event("view", user_id="u1", session_id="s1", item_id="i1"),
    "click": event("click", session_id="s2", item_id="i2", rec_id="r1", event_id="e9"),
    "search": event("search", user_id="u2", query="red shoes", props='{"page":"2"}'),
    "add_to_cart": event("add_to_cart", user_id="u1", item_id="i1", qty=2, price=19.99),
    "remove_from_cart": event("remove_from_cart", user_id="u1", item_id="i1", qty=1),
    "purchase": event("purchase", event_id="e2", user_id="u1", session_id="s1", item_id="i1", qty=3, price=5.5,
                      order_id="o1", rec_id="r1", props='{"channel":"web"}'),
}

# fuzz-record: byte 0 picks the record type (% 6), the rest is the payload; evt_decode
# also sees the whole input, so the evt-* seeds are bare event payloads.
for name, p in events.items():
    write("fuzz-record", "event-" + name, bytes([REC_EVENT]) + p)
write("fuzz-record", "evt-purchase", events["purchase"])
write("fuzz-record", "evt-view", events["view"])
write("fuzz-record", "event-negative-ts", bytes([REC_EVENT]) + event("view", ts=-1, user_id="u1", item_id="i9"))
write("fuzz-record", "event-huge-ts", bytes([REC_EVENT]) + event("purchase", ts=2**62, user_id="u1", item_id="i1",
                                                                  price=1e300, qty=1))
write("fuzz-record", "event-anonymous", bytes([REC_EVENT]) + event("view", item_id="i1"))
write("fuzz-record", "event-truncated", bytes([REC_EVENT]) + events["purchase"][:-3])
write("fuzz-record", "event-trailing", bytes([REC_EVENT]) + events["view"] + b"\x00")
write("fuzz-record", "event-bad-version", bytes([REC_EVENT, 2]) + events["view"][1:])
write("fuzz-record", "event-bad-type", bytes([REC_EVENT, 1, 6]) + events["view"][2:])
write("fuzz-record", "event-long-varint", bytes([REC_EVENT]) + events["view"][:10] + b"\xff" * 11)
write("fuzz-record", "item-put", bytes([REC_ITEM_PUT]) + doc("i1", ITEM))
write("fuzz-record", "item-put-new", bytes([REC_ITEM_PUT]) + doc("i7", '{"item_id":"i7","categories":["A"]}'))
write("fuzz-record", "item-put-odd-doc", bytes([REC_ITEM_PUT]) + doc("i8", '{"price":"x","categories":[1,{}],"brand":2}'))
write("fuzz-record", "item-put-not-object", bytes([REC_ITEM_PUT]) + doc("i1", '[1]'))
write("fuzz-record", "item-put-bad-json", bytes([REC_ITEM_PUT]) + doc("i1", '{"item_id":'))
write("fuzz-record", "item-put-empty-id", bytes([REC_ITEM_PUT]) + doc("", ITEM))
write("fuzz-record", "item-del", bytes([REC_ITEM_DEL]) + s("i1"))
write("fuzz-record", "item-del-unknown", bytes([REC_ITEM_DEL]) + s("nope"))
write("fuzz-record", "item-del-trailing", bytes([REC_ITEM_DEL]) + s("i1") + b"x")
write("fuzz-record", "user-put", bytes([REC_USER_PUT]) + doc("u1", USER))
write("fuzz-record", "user-put-new", bytes([REC_USER_PUT]) + doc("u9", '{"user_id":"u9"}'))
# Customer documents are stored as their text, checked by the scanner: odd but valid text
# must render as valid JSON, text that is not one JSON object must be refused.
write("fuzz-record", "user-put-spaces", bytes([REC_USER_PUT]) + doc("u9", '{ \n}'))
write("fuzz-record", "user-put-nested", bytes([REC_USER_PUT]) + doc("u9", '{"a":{"b":[1,2.5,null,true]} }'))
write("fuzz-record", "user-put-bad-json", bytes([REC_USER_PUT]) + doc("u9", '{"user_id":zu9"}'))
write("fuzz-record", "user-put-two-objects", bytes([REC_USER_PUT]) + doc("u9", '{"a":1}{}'))
write("fuzz-record", "user-put-bad-utf8", bytes([REC_USER_PUT]) + s("u9") + b'{"a":"\xff"}')
write("fuzz-record", "type-0", bytes([0]) + events["view"])
write("fuzz-record", "type-5", bytes([5]) + doc("i1", ITEM))
write("fuzz-record", "empty", b"")

# fuzz-log: whole segment files.
recs = [record(REC_ITEM_PUT, doc("i1", ITEM)), record(REC_USER_PUT, doc("u1", USER))]
recs += [record(REC_EVENT, p) for p in events.values()]
recs += [record(REC_ITEM_DEL, s("i1")), record(9, b"unknown type")]
whole = HEADER + b"".join(recs)
write("fuzz-log", "valid", whole)
write("fuzz-log", "header-only", HEADER)
write("fuzz-log", "one-record", HEADER + recs[2])
write("fuzz-log", "torn-tail", whole[:-5])
write("fuzz-log", "torn-record-header", HEADER + recs[0] + recs[1][:6])
bad = bytearray(HEADER + recs[0] + recs[1] + recs[2])
bad[len(HEADER) + len(recs[0]) + 4] ^= 0x01  # CRC of the second record
write("fuzz-log", "bad-crc", bytes(bad))
bad = bytearray(whole)
bad[-1] ^= 0x80  # payload byte of the last record
write("fuzz-log", "bad-payload", bytes(bad))
write("fuzz-log", "zero-length", HEADER + recs[0] + struct.pack("<II", 0, 0) + recs[1])
write("fuzz-log", "huge-length", HEADER + recs[0] + struct.pack("<II", 0xFFFFFFF0, 0) + b"x" * 8)
write("fuzz-log", "zero-fill-tail", whole + b"\0" * 64)
write("fuzz-log", "empty-record", HEADER + record(REC_EVENT, b""))
write("fuzz-log", "newer-version", b"AISLELOG" + struct.pack("<II", 2, 0) + b"".join(recs))
write("fuzz-log", "empty-file", b"")  # garbage header path; a short one is in crashes/fuzz-log
