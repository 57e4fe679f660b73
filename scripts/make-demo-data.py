#!/usr/bin/env python3
"""Build Aisle's demo data set from the UCI "Online Retail" sample.

Usage:
    python3 scripts/make-demo-data.py path/to/online_retail_sample.csv [OUTDIR]

OUTDIR defaults to demo/ next to this script's parent directory.  Writes
items.json, users.ndjson, events.ndjson and README.md there.  Standard library
only; the output is a pure function of the input file (seeded RNG, no clock).

What it does:
  * reads the Latin-1 CSV (InvoiceNo, StockCode, Description, Quantity,
    UnitPrice, CustomerID, Country);
  * takes the first MAX_INVOICES invoices in file order, or fewer, so that the
    written files total less than MAX_BYTES;
  * catalog: every merchandise stock code seen in the cut that has a
    description and a positive price somewhere in the file; title = the most
    common description, price = the most common positive unit price (both
    over the whole file, non-cancelled lines with a positive quantity);
    categories and tags are derived from keywords in the title;
  * events: per non-cancelled invoice, a synthetic browsing funnel (views,
    add_to_cart) followed by one purchase event per invoice line;
  * timestamps are invented: invoices are spread evenly, in file order, over
    the 30 days ending at END_TS; events inside an invoice are seconds apart.

A summary (counts, skipped lines and why) is printed to stderr.
"""

import collections
import csv
import datetime
import json
import os
import random
import re
import sys

MAX_INVOICES = 600
MAX_BYTES = 1_500_000          # all four output files together
END_TS = datetime.datetime(2026, 11, 20, 0, 0, 0, tzinfo=datetime.timezone.utc)
SPAN_S = 30 * 24 * 3600
SEED = "aisle-demo-v1"
CURRENCY = "GBP"

# Stock codes that are not merchandise: postage, fees, discounts, manual
# adjustments, samples, gift vouchers.
NON_PRODUCT_CODES = {
    "POST", "DOT", "M", "C2", "D", "S", "B", "CRUK", "PADS",
    "AMAZONFEE", "BANK CHARGES",
}


def is_product_code(code):
    if code in NON_PRODUCT_CODES or code.startswith("GIFT_"):
        return False
    return any(c.isdigit() for c in code)


# ---------------------------------------------------------------- categories
# (path, any-of keywords); the first rule with a keyword in the title wins.
# Keywords are matched against upper-case word tokens; WORD+WORD (2 or 3
# words) matches that phrase.
CATEGORY_RULES = [
    (["Christmas", "Cards & Wrap"], "CHRISTMAS+CARD CHRISTMAS+CARDS CHRISTMAS+WRAP CHRISTMAS+TAGS CHRISTMAS+TISSUE CHRISTMAS+RIBBONS CHRISTMAS+GIFT"),
    (["Christmas", "Decorations"], "CHRISTMAS XMAS ADVENT SANTA REINDEER SNOWFLAKE SNOWMAN NATIVITY BAUBLE BAUBLES ANGEL NOEL HOLLY JINGLE PANNETONE TREE+DECORATION"),
    (["Seasonal", "Easter"], "EASTER CHICK CHICKS"),
    # phrases that beat the generic nouns below (BOTTLE, BAG, TIN, PICTURE)
    (["Home", "Textiles"], "HOT+WATER"),
    (["Toys & Games"], "PLAYING+CARDS MARBLES JIGSAW SNAKES+LADDERS"),
    (["Bath & Beauty"], "BALM LIP+GLOSS WASH+BAG WASHBAG"),
    (["Fashion", "Jewellery"], "NECKLACE BRACELET BANGLE EARRINGS RING BROOCH PENDANT DIAMANTE BEADED CHARM JEWEL"),
    (["Fashion", "Hair Accessories"], "HAIR HAIRCLIP HAIRBAND SLIDES SCRUNCHIE"),
    (["Fashion", "Travel"], "PASSPORT LUGGAGE TRAVEL"),
    (["Fashion", "Accessories"], "PURSE WALLET UMBRELLA PARASOL SCARF GLOVES HAT WARMER SUNGLASSES HEADPHONES SLIPPER SLIPPERS SHOES PONCHO MAC EAR+MUFF"),
    (["Party", "Gift Wrap"], "WRAP WRAPPING GIFT+BAG GIFT+BAGS CELLOPHANE TISSUE RIBBONS RIBBON GIFT+TAGS GIFT+TAG"),
    (["Bags"], "BAG BAGS HANDBAG BACKPACK SHOPPER TOTE HOLDALL"),
    (["Home", "Candles"], "CANDLE CANDLES T-LIGHT T-LIGHTS TEALIGHT TEALIGHTS INCENSE BURNER CANDLEHOLDER CANDLESTICK CANDLEPOT MATCHES"),
    (["Home", "Lighting"], "LANTERN LAMP LIGHT LIGHTS NIGHTLIGHT TORCH"),
    (["Kitchen", "Mugs"], "MUG MUGS"),
    (["Kitchen", "Tea & Coffee"], "TEACUP TEACUPS TEAPOT CUP CUPS SAUCER COFFEE TEA+SET ESPRESSO TEA+COSY CADDY"),
    (["Kitchen", "Tableware"], "BOWL BOWLS PLATE PLATES DISH CUTLERY SPOON SPOONS FORK NAPKIN NAPKINS PLACEMAT PLACEMATS COASTER COASTERS TABLECLOTH TABLE+CLOTH TRAY GLASSES TUMBLER BEAKER BEAKERS JUG LADLE EGG+HOLDER SALT+AND+PEPPER SQUEEZER FLASK CHOPSTICKS STRAWS PLATTER PLACE+SETTING EGG+COSY BREAKFAST+SET"),
    (["Kitchen", "Cooking & Baking"], "BAKING CAKESTAND CAKE+STAND CAKE+CASES CUTTER CUTTERS MOULD APRON OVEN ROLLING RECIPE WHISK PAN SCALES TEA+TOWEL TEA+TOWELS FOOD+COVER COOKING KITCHEN"),
    (["Kitchen", "Storage"], "JAR JARS LUNCH BREAD TIN TINS CONTAINER CANISTER BOTTLE"),
    (["Home", "Textiles"], "HOT+WATER CUSHION SQUARECUSHION THROW BLANKET DOORMAT TOWEL TOWELS QUILT FILLER"),
    (["Home", "Storage"], "BOX BOXES BASKET BASKETS STORAGE TRINKET BIN HAMPER DRAWER CHEST CASE CASES CRATE CRATES ORGANISER BUCKET RACK STAND"),
    (["Home", "Decor"], "FRAME MIRROR CLOCK SIGN PLAQUE HOOK HOOKS HANGER HANGERS DOORSTOP KNOB DRAWERKNOB CABINET SHELF VASE ORNAMENT DECORATION WREATH GARLAND DOOR WALL HANGING TILE PICTURE PHOTO LETTER LETTERS NUMBER CHIME HEART WORD PRINT CLOCHE STAR PEARS DOORSIGN FLYING+DUCKS"),
    (["Garden"], "GARDEN PLANT PLANTER POT POTS WATERING FEEDER BIRDHOUSE HAMMOCK SEED SEEDS POTTING HERB+MARKER"),
    (["Stationery", "Cards"], "CARD CARDS POSTCARD CARDHOLDER"),
    (["Stationery"], "NOTEBOOK NOTEBOOKS NOTEPAD NOTE PEN PENS PENCIL PENCILS ERASER ERASERS RUBBER STICKER STICKERS TAPE TAPES JOURNAL DIARY SKETCHBOOK CRAYONS CHALK MEMO ENVELOPE ENVELOPES CALENDAR BOOKMARK BOOK STAMP STATIONERY PAPER SCISSOR SCISSORS WRITING CALCULATOR CHALKBOARD PAPERWEIGHT P'WEIGHT MAGNETS"),
    (["Party", "Party Supplies"], "PARTY BUNTING BALLOON BALLOONS CONFETTI BANNER CANDY POPCORN"),
    (["Crafts"], "SEWING FELTCRAFT KNITTING CRAFT BUTTONS EMBROIDERY THREAD ORIGAMI PAINT DRAWING COLOURING MODELLING CANVAS PATCHES SEW"),
    (["Toys & Games"], "TOY TOYS JIGSAW PUZZLE GAME GAMES DOLL DOLLS PLAYING SKIPPING BALL TEDDY DINOSAUR DOMINOES MARBLES SPINNING KIT HELICOPTER BINGO LUDO SNAKES SKITTLES PLAYHOUSE SPADE TATTOOS INFLATABLE GLOBE SPORTING"),
    (["Bath & Beauty"], "BATHROOM BATH SOAP TOILETRIES MAKE-UP MAKEUP COSMETIC LIP NAIL BALM COMPACT FLANNEL TISSUES"),
]
FALLBACK_CATEGORY = ["Gifts"]


def _compile_rules():
    rules = []
    for path, words in CATEGORY_RULES:
        singles, phrases = set(), []
        for w in words.split():
            if "+" in w:
                phrases.append(tuple(w.split("+")))
            else:
                singles.add(w)
        rules.append((path, singles, phrases))
    return rules


RULES = _compile_rules()


def tokens(text):
    return re.findall(r"[A-Z0-9][A-Z0-9'\-\.]*", text.upper().replace(",", " "))


def categorise(title):
    toks = [t.rstrip(".") for t in tokens(title)]
    tokset = set(toks)
    ngrams = set()
    for n in (2, 3):
        ngrams.update(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))
    for path, singles, phrases in RULES:
        if tokset & singles or any(p in ngrams for p in phrases):
            return list(path)
    return list(FALLBACK_CATEGORY)


STOP_WORDS = {
    "OF", "SET", "IN", "AND", "WITH", "THE", "FOR", "ON", "A", "AN", "TO",
    "SMALL", "LARGE", "MEDIUM", "MINI", "JUMBO", "PACK", "DESIGN", "ASSORTED",
    "PC", "PCS", "CM", "NO", "SIZE", "PIECE", "COLOUR", "COLOURS", "STYLE",
    "TIER", "ROUND", "SQUARE", "TALL", "NEW", "DES", "S", "ASS", "ASSTD", "COL", "SIZE",
}


def make_tags(title, categories, limit=5):
    out = []
    for t in tokens(title):
        t = t.strip("'.-")
        if not t or t in STOP_WORDS or not any(c.isalpha() for c in t):
            continue
        if any(c.isdigit() for c in t) or len(t) < 3:
            continue
        t = t.lower()
        if t not in out:
            out.append(t)
        if len(out) >= limit:
            break
    return out


LOWER_WORDS = {"of", "and", "in", "with", "the", "for", "on", "a", "an", "to", "or"}


def title_case(desc):
    words = desc.split()
    out = []
    for i, w in enumerate(words):
        lw = w.lower()
        if i > 0 and lw in LOWER_WORDS:
            out.append(lw)
        elif any(c.isdigit() for c in w):
            # 3D, A5, 50's, 45x45cm, Set/4: words of 3+ letters capitalised,
            # units lower-case, other short letter runs kept upper-case
            w2 = re.sub(r"'S\b", "'s", w.upper())
            w2 = re.sub(r"(\d)(CM|MM|ML|M|G|PC|PCS|X)(?![A-WYZ])", lambda m: m.group(1) + m.group(2).lower(), w2)
            w2 = re.sub(r"[A-Z]{3,}", lambda m: m.group(0).capitalize(), w2)
            out.append(w2)
        else:
            # capitalise each part of T-LIGHT, SET/6, CHARLIE+LOLA; keep 's small
            out.append(re.sub(r"[A-Za-z]+", lambda m: m.group(0).capitalize(), lw).replace("'S", "'s"))
    return " ".join(out)


def clean_desc(desc):
    return " ".join(desc.replace("*", " ").split())


# ---------------------------------------------------------------- helpers
def user_id_of(cust):
    cust = cust.strip()
    if not cust:
        return None
    if cust.endswith(".0"):
        cust = cust[:-2]
    return "c" + cust


def rfc3339(epoch_s):
    return datetime.datetime.fromtimestamp(epoch_s, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def parse_price(s):
    try:
        return float(s)
    except ValueError:
        return None


def parse_qty(s):
    try:
        return int(s)
    except ValueError:
        try:
            f = float(s)
            return int(f) if f == int(f) else None
        except ValueError:
            return None


def read_rows(path):
    with open(path, encoding="latin-1", newline="") as f:
        reader = csv.DictReader(f)
        rows = []
        for r in reader:
            rows.append({
                "inv": r["InvoiceNo"].strip(),
                "code": r["StockCode"].strip().upper(),
                "desc": clean_desc(r["Description"] or ""),
                "qty": parse_qty(r["Quantity"].strip()),
                "price": parse_price(r["UnitPrice"].strip()),
                "cust": (r["CustomerID"] or "").strip(),
                "country": (r["Country"] or "").strip(),
            })
    return rows


def is_sale(r):
    return (not r["inv"].startswith("C") and r["qty"] is not None and r["qty"] > 0
            and r["price"] is not None and r["price"] > 0)


def catalog_attributes(rows):
    """Title and list price per stock code, over the whole file."""
    descs = collections.defaultdict(collections.Counter)
    prices = collections.defaultdict(collections.Counter)
    first = {}
    for n, r in enumerate(rows):
        if not is_sale(r) or not is_product_code(r["code"]):
            continue
        first.setdefault(r["code"], n)
        if r["desc"]:
            descs[r["code"]][r["desc"]] += 1
        prices[r["code"]][r["price"]] += 1
    attrs = {}
    for code in first:
        if not descs[code]:
            continue
        # most common; ties -> first seen (Counter keeps insertion order)
        desc = max(descs[code].items(), key=lambda kv: kv[1])[0]
        price = max(prices[code].items(), key=lambda kv: kv[1])[0]
        attrs[code] = (desc, price)
    return attrs


# ---------------------------------------------------------------- build
def build(rows, attrs, n_invoices):
    invoices = collections.OrderedDict()
    for r in rows:
        if r["inv"] not in invoices:
            if len(invoices) == n_invoices:
                # file is grouped by invoice, so the cut ends here
                break
            invoices[r["inv"]] = []
        invoices[r["inv"]].append(r)

    stats = collections.Counter()

    # catalog: products seen in the cut with a title and price
    items = {}
    for lines in invoices.values():
        for r in lines:
            code = r["code"]
            if code in items or not is_product_code(code) or code not in attrs:
                continue
            desc, price = attrs[code]
            title = title_case(desc)
            cats = categorise(desc)
            items[code] = {
                "item_id": code,
                "title": title,
                "price": price,
                "currency": CURRENCY,
                "categories": cats,
                "tags": make_tags(desc, cats),
                "in_stock": True,
            }
    by_cat = collections.defaultdict(list)
    for code in sorted(items):
        by_cat[tuple(items[code]["categories"])].append(code)

    events = []
    users = collections.OrderedDict()      # user_id -> Counter(country)
    slot = SPAN_S / max(1, len(invoices))
    start0 = int(END_TS.timestamp()) - SPAN_S

    for k, (inv, lines) in enumerate(invoices.items()):
        stats["invoices"] += 1
        t_inv = start0 + int(k * slot)
        if inv.startswith("C"):
            stats["cancelled_invoices"] += 1
            stats["skipped_lines:cancellation"] += len(lines)
            continue
        buy = []
        for ln, r in enumerate(lines, 1):
            if r["qty"] is None or r["qty"] <= 0:
                stats["skipped_lines:quantity<=0"] += 1
            elif r["price"] is None or r["price"] <= 0:
                stats["skipped_lines:price<=0"] += 1
            elif not is_product_code(r["code"]):
                stats["skipped_lines:non-product code (" + r["code"] + ")"] += 1
            elif r["code"] not in items:
                stats["skipped_lines:no description"] += 1
            else:
                buy.append((ln, r))
        if not buy:
            stats["invoices_without_events"] += 1
            continue
        uid = user_id_of(lines[0]["cust"])
        if uid is None:
            stats["anonymous_invoices"] += 1
            stats["anonymous_purchase_lines"] += len(buy)
        else:
            users.setdefault(uid, collections.Counter())[lines[0]["country"]] += 1
        rng = random.Random(SEED + ":" + inv)
        session = "s-" + inv

        def base(eid, etype):
            e = {"event_id": eid, "type": etype}
            if uid is not None:
                e["user_id"] = uid
            e["session_id"] = session
            return e

        # browsing funnel: view each purchased item once, add each line to cart
        steps = []
        bought = set()
        v = c = 0
        for ln, r in buy:
            if r["code"] not in bought:
                bought.add(r["code"])
                v += 1
                e = base("inv-%s-v%d" % (inv, v), "view")
                e["item_id"] = r["code"]
                steps.append(e)
            c += 1
            e = base("inv-%s-c%d" % (inv, c), "add_to_cart")
            e["item_id"] = r["code"]
            e["quantity"] = r["qty"]
            e["price"] = r["price"]
            steps.append(e)
        # plus 1-2 views of other items from a purchased item's category
        pick_from = items[rng.choice(buy)[1]["code"]]["categories"]
        cands = [x for x in by_cat[tuple(pick_from)] if x not in bought]
        if not cands:
            cands = [x for cat, xs in by_cat.items() if cat[0] == pick_from[0]
                     for x in xs if x not in bought]
        n_extra = min(len(cands), rng.randint(1, 2))
        for x in rng.sample(cands, n_extra):
            v += 1
            e = base("inv-%s-v%d" % (inv, v), "view")
            e["item_id"] = x
            steps.insert(rng.randint(0, len(steps)), e)
            stats["synthetic_extra_views"] += 1
        # purchase: one event per invoice line, all at checkout time
        purchases = []
        for ln, r in buy:
            e = base("inv-%s-%d" % (inv, ln), "purchase")
            e["item_id"] = r["code"]
            e["quantity"] = r["qty"]
            e["price"] = r["price"]
            e["order_id"] = inv
            purchases.append(e)

        # timestamps: a few seconds apart, squeezed into 90% of the slot
        offs, t = [], 0
        for _ in steps:
            offs.append(t)
            t += rng.randint(3, 25)
        checkout = t + rng.randint(10, 60)
        budget = int(slot * 0.9)
        scale = min(1.0, budget / checkout) if checkout else 1.0
        for e, o in zip(steps, offs):
            e["ts"] = rfc3339(t_inv + int(o * scale))
        for e in purchases:
            e["ts"] = rfc3339(t_inv + int(checkout * scale))
        events.extend(steps)
        events.extend(purchases)
        stats["purchase_lines"] += len(purchases)

    user_rows = []
    for uid, countries in users.items():
        user_rows.append({"user_id": uid, "country": max(countries.items(), key=lambda kv: kv[1])[0]})
        if len(countries) > 1:
            stats["users_with_several_countries"] += 1
    item_rows = [items[c] for c in sorted(items)]
    return item_rows, user_rows, events, stats, list(invoices)


def render(item_rows, user_rows, events, readme):
    items_txt = "[\n" + ",\n".join(dumps(i) for i in item_rows) + "\n]\n"
    users_txt = "".join(dumps(u) + "\n" for u in user_rows)
    events_txt = "".join(dumps(e) + "\n" for e in events)
    return {
        "items.json": items_txt,
        "users.ndjson": users_txt,
        "events.ndjson": events_txt,
        "README.md": readme,
    }


README_TEMPLATE = """\
# Aisle demo data

A small, ready-to-load data set for trying Aisle: a gift shop's catalog, its
customers, and their shopping sessions.

| File | Contents |
|------|----------|
| `items.json` | one JSON array of {n_items} catalog items (`item_id`, `title`, `price`, `currency`, `categories`, `tags`, `in_stock`) |
| `users.ndjson` | {n_users} users, one JSON object a line (`user_id`, `country`) |
| `events.ndjson` | {n_events} events, one JSON object a line, in time order: {by_type} |

## Source and licence

Derived from the UCI "Online Retail" data set (invoice lines of a UK online
gift retailer, December 2010 to December 2011):

> Chen, D. (2015). Online Retail. UCI Machine Learning Repository. CC BY 4.0

Licence: Creative Commons Attribution 4.0 International
(https://creativecommons.org/licenses/by/4.0/). The files here are a modified
extract: the changes are described below.

## How it was made

    python3 scripts/make-demo-data.py path/to/online_retail_sample.csv

from a 50,062-line sample of the data set (`online_retail_sample.csv`,
Latin-1 encoded; the output is UTF-8). The script uses only the Python
standard library and is deterministic (seeded RNG, no clock). It:

- keeps the first {n_inv} invoices in file order ({inv_first} to {inv_last}),
  as many as fit with these files under 1.5 MB;
- catalog: every merchandise stock code in that cut (stock codes upper-cased,
  since `85123a` and `85123A` are the same product). The title is the most
  common description, title-cased; the price is the most common positive
  unit price (GBP) for that code in the sample. Postage, fees, discounts,
  manual adjustments, samples, gift vouchers and codes with no description
  are left out. `categories` and `tags` are derived from keywords in the
  description by a fixed rule table, not taken from the source;
- users: one per customer with at least one purchase: `user_id` is `c`
  followed by the CustomerID, with the customer's country;
- purchases: one `purchase` event per invoice line with a positive quantity
  and a positive price, with `order_id` = InvoiceNo, `session_id` =
  `s-<InvoiceNo>`, `event_id` = `inv-<InvoiceNo>-<line number in the invoice>`.
  Invoices without a CustomerID become anonymous sessions (no `user_id`).
  Cancellations (InvoiceNo starting with `C`) are skipped.

**Synthesised, not real:**

- the browsing events. The source has only purchases; before each order, the
  session gets a `view` of each purchased item (`inv-<InvoiceNo>-v<k>`) plus
  1-2 views of other items from a purchased item's category (picked at
  random), and an `add_to_cart` per invoice line (`inv-<InvoiceNo>-c<k>`);
- all timestamps. The source sample has no dates: the invoices are spread
  evenly, in file order, over the 30 days ending 2026-11-20T00:00:00Z, with a
  session's events a few seconds apart and all purchase events of an order
  at one checkout time.
"""


def main(argv):
    if len(argv) < 2:
        print("usage: make-demo-data.py online_retail_sample.csv [OUTDIR]", file=sys.stderr)
        return 2
    src = argv[1]
    outdir = argv[2] if len(argv) > 2 else os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "demo")
    rows = read_rows(src)
    attrs = catalog_attributes(rows)
    n_total_inv = len({r["inv"] for r in rows})

    def attempt(n):
        item_rows, user_rows, events, stats, invs = build(rows, attrs, n)
        by_type = collections.Counter(e["type"] for e in events)
        readme = README_TEMPLATE.format(
            n_items=len(item_rows), n_users=len(user_rows), n_events=len(events),
            by_type=", ".join("%d %s" % (by_type[t], t) for t in ("view", "add_to_cart", "purchase")),
            n_inv=len(invs), inv_first=invs[0], inv_last=invs[-1])
        files = render(item_rows, user_rows, events, readme)
        size = sum(len(t.encode("utf-8")) for t in files.values())
        return files, size, (item_rows, user_rows, events, stats, invs, by_type)

    # largest cut <= MAX_INVOICES whose output fits (size grows with the cut)
    lo, hi = 1, min(MAX_INVOICES, n_total_inv)
    files, size, info = attempt(hi)
    if size >= MAX_BYTES:
        best = None
        while lo <= hi:
            mid = (lo + hi) // 2
            f, s, i = attempt(mid)
            if s < MAX_BYTES:
                best, lo = (f, s, i), mid + 1
            else:
                hi = mid - 1
        if best is None:
            print("error: even one invoice exceeds the size limit", file=sys.stderr)
            return 1
        files, size, info = best

    os.makedirs(outdir, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(outdir, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    item_rows, user_rows, events, stats, invs, by_type = info
    err = sys.stderr
    print("source: %d lines, %d invoices" % (len(rows), n_total_inv), file=err)
    print("cut: first %d invoices (%s .. %s)" % (len(invs), invs[0], invs[-1]), file=err)
    print("wrote %s: %d bytes in all" % (outdir, size), file=err)
    print("  items:  %d" % len(item_rows), file=err)
    print("  users:  %d" % len(user_rows), file=err)
    print("  events: %d (%s)" % (len(events), ", ".join("%s %d" % kv for kv in sorted(by_type.items()))), file=err)
    for key in sorted(stats):
        print("  %s: %d" % (key, stats[key]), file=err)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
