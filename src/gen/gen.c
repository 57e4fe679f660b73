/* The shop-data generator behind `aisle gen` (the model is described in gen.h): builds
 * the catalog and the customers in memory, then simulates sessions in time order, each
 * planned whole when it starts and interleaved with the others through a min-heap, and
 * streams the NDJSON through large buffers. */
#include "gen.h"

#include "../util/flags.h"
#include "../util/hash.h"
#include "../util/timeutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GEN_TOPS 10
#define GEN_SUBS 6
#define GEN_LEAFS_PER_SUB 5
#define GEN_LEAVES (GEN_TOPS * GEN_SUBS * GEN_LEAFS_PER_SUB)
#define GEN_BRANDS 12          /* per top category */
#define GEN_MAX_PARTNERS 3
#define GEN_TASTE_LEAVES 4
#define GEN_TASTE_BRANDS 3
#define GEN_SESSION_MAX 96     /* events planned in one session at most */
#define GEN_CART_MAX 12
#define GEN_MAX_TREND 10
#define GEN_LINE_SIZE 5        /* items of a product line ("similar") */
#define GEN_NONE UINT32_MAX
#define GEN_SESSION_MS (30 * 60 * 1000)
#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL
#define OUT_BUF (1u << 20)

enum { EV_VIEW, EV_CLICK, EV_SEARCH, EV_ADD, EV_REMOVE, EV_PURCHASE };
static const char *const ev_names[6] = {"view",        "click",            "search",
                                        "add_to_cart", "remove_from_cart", "purchase"};

/* ---- PRNG: xoshiro256**, seeded by splitmix64 (hash_splitmix) ---- */

typedef struct {
    uint64_t s[4];
} rng_t;


/* A seed for one stream (what, index) of the run's seed, so that each customer's or
 * item's draws do not depend on the order anything else is generated in. */
static uint64_t mix(uint64_t seed, uint64_t what, uint64_t idx)
{
    uint64_t x = seed ^ (what * 0xd1b54a32d192ed03ull);
    hash_splitmix(&x);
    x ^= idx * 0x8cb92ba72f3d8dd7ull;
    return hash_splitmix(&x);
}

static void rng_seed(rng_t *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = hash_splitmix(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, 1). */
static inline double rng_u01(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), n < 2^32. */
static inline uint32_t rng_below(rng_t *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static inline int rng_chance(rng_t *r, double p)
{
    return rng_u01(r) < p;
}

static double rng_normal(rng_t *r)
{
    double u = 1.0 - rng_u01(r), v = rng_u01(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static double rng_exp(rng_t *r)
{
    return -log(1.0 - rng_u01(r));
}

/* exp(ln(median) + sigma * N(0,1)), clamped. */
static int64_t rng_lognormal_ms(rng_t *r, double median, double sigma, double lo, double hi)
{
    double v = median * exp(sigma * rng_normal(r));
    return (int64_t)(v < lo ? lo : v > hi ? hi : v);
}

/* Index into a small cumulative-weight table. */
static int pick_cum(rng_t *r, const double *cum, int n)
{
    double u = rng_u01(r) * cum[n - 1];
    for (int i = 0; i < n - 1; i++)
        if (u < cum[i])
            return i;
    return n - 1;
}

/* Zipf(1) rank in [0, n) by inverting the continuous 1/x law; lnn1 = log(n + 1). */
static inline uint32_t zipf_rank(rng_t *r, uint32_t n, double lnn1)
{
    uint32_t k = (uint32_t)exp(rng_u01(r) * lnn1) - 1;
    return k < n ? k : n - 1;
}

/* ---- alias tables (Vose), for O(1) draws from large weighted sets ---- */

typedef struct {
    float *prob;
    uint32_t *alias;
    uint32_t n;
} alias_t;

static int alias_build(alias_t *a, const double *w, uint32_t n)
{
    a->n = n;
    a->prob = malloc((size_t)n * sizeof *a->prob);
    a->alias = malloc((size_t)n * sizeof *a->alias);
    uint32_t *small = malloc((size_t)n * sizeof *small), *large = malloc((size_t)n * sizeof *large);
    double *p = malloc((size_t)n * sizeof *p);
    int rc = -1;
    if (!a->prob || !a->alias || !small || !large || !p)
        goto out;
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += w[i];
    uint32_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        p[i] = w[i] * n / sum;
        if (p[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[nl - 1];
        a->prob[s] = (float)p[s];
        a->alias[s] = l;
        p[l] -= 1.0 - p[s];
        if (p[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    while (nl) {
        uint32_t l = large[--nl];
        a->prob[l] = 1.0f;
        a->alias[l] = l;
    }
    while (ns) {
        uint32_t s = small[--ns];
        a->prob[s] = 1.0f;
        a->alias[s] = s;
    }
    rc = 0;
out:
    free(small);
    free(large);
    free(p);
    return rc;
}

static void alias_free(alias_t *a)
{
    free(a->prob);
    free(a->alias);
    a->prob = NULL;
    a->alias = NULL;
}

static inline uint32_t alias_draw(const alias_t *a, rng_t *r)
{
    uint64_t x = rng_next(r);
    uint32_t i = (uint32_t)(((x >> 32) * (uint64_t)a->n) >> 32);
    double u = (double)(x & 0xffffffffu) * 0x1.0p-32;
    return u < a->prob[i] ? i : a->alias[i];
}

/* ---- word lists ---- */

/* A leaf is "Plural[|Singular]"; a leading '*' marks consumables. The singular (for
 * titles and queries) defaults to a plain English de-pluralisation. */
typedef struct {
    const char *name;
    unsigned median_cents; /* typical price in the top category */
    int variant;           /* titles end with: 0 nothing, 1 a colour, 2 a size */
    const char *subs[GEN_SUBS];
    const char *leaves[GEN_SUBS][GEN_LEAFS_PER_SUB];
} top_def_t;

static const top_def_t tops[GEN_TOPS] = {
    {"Home", 2500, 1,
     {"Kitchen", "Dining", "Bedding", "Bath", "Decor", "Cleaning"},
     {{"Mugs", "Teapots", "Cutting Boards", "Chef Knives|Chef Knife", "Mixing Bowls"},
      {"Dinner Plates", "Wine Glasses|Wine Glass", "Cutlery Sets", "Table Linen|Table Linen",
       "Serving Bowls"},
      {"Duvet Covers", "Pillows", "Bed Sheets", "Blankets", "Mattress Toppers"},
      {"Bath Towels", "Shower Curtains", "Bath Mats", "Soap Dispensers", "*Toilet Paper|Toilet Paper"},
      {"Candles", "Picture Frames", "Vases", "Wall Clocks", "Cushions"},
      {"*Dish Soap|Dish Soap", "*Laundry Detergent|Laundry Detergent", "*Sponges", "Mops", "*Trash Bags"}}},
    {"Electronics", 9000, 1,
     {"Phones", "Computers", "Audio", "TV & Video", "Cameras", "Accessories"},
     {{"Smartphones", "Phone Cases", "Chargers", "Screen Protectors", "Power Banks"},
      {"Laptops", "Monitors", "Keyboards", "Mice|Mouse", "Webcams"},
      {"Headphones|Headphones", "Earbuds|Earbuds", "Speakers", "Soundbars", "Microphones"},
      {"Televisions", "Projectors", "Streaming Sticks", "TV Mounts", "HDMI Cables"},
      {"Digital Cameras", "Camera Lenses", "Tripods", "Memory Cards", "Camera Bags"},
      {"*Batteries|Batteries", "USB Cables", "Smart Plugs", "Light Bulbs", "*Printer Ink|Printer Ink"}}},
    {"Fashion", 3500, 1,
     {"Women", "Men", "Shoes", "Bags", "Accessories", "Underwear"},
     {{"Dresses", "Blouses", "Skirts", "Cardigans", "Leggings|Leggings"},
      {"Shirts", "Chinos|Chinos", "Jackets", "Sweaters", "Polo Shirts"},
      {"Sneakers", "Boots", "Sandals", "Loafers", "Running Shoes"},
      {"Backpacks", "Handbags", "Wallets", "Tote Bags", "Suitcases"},
      {"Scarves|Scarf", "Belts", "Sunglasses|Sunglasses", "Hats", "Watches"},
      {"*Socks|Socks", "Boxer Briefs|Boxer Briefs", "Bras", "Pajamas|Pajamas", "Tights|Tights"}}},
    {"Beauty", 1400, 2,
     {"Skincare", "Hair", "Makeup", "Fragrance", "Bath & Body", "Shaving"},
     {{"*Face Creams", "*Cleansers", "*Serums", "*Sunscreen|Sunscreen", "*Face Masks"},
      {"*Shampoo|Shampoo", "*Conditioner|Conditioner", "Hair Dryers", "Hair Brushes", "*Hair Oil|Hair Oil"},
      {"*Lipsticks", "*Mascara|Mascara", "*Foundation|Foundation", "Eyeshadow Palettes", "Makeup Brushes"},
      {"Perfumes", "Eau de Toilette|Eau de Toilette", "Body Mists", "*Deodorants", "Gift Sets"},
      {"*Shower Gel|Shower Gel", "*Body Lotion|Body Lotion", "*Hand Soap|Hand Soap", "Bath Bombs",
       "*Body Scrubs"},
      {"Razors", "*Razor Blades|Razor Blades", "*Shaving Foam|Shaving Foam", "Beard Trimmers",
       "*Aftershave|Aftershave"}}},
    {"Grocery", 600, 2,
     {"Coffee & Tea", "Snacks", "Pantry", "Breakfast", "Drinks", "Health"},
     {{"*Coffee Beans|Coffee Beans", "*Ground Coffee|Ground Coffee", "*Coffee Capsules|Coffee Capsules",
       "*Green Tea|Green Tea", "*Herbal Tea|Herbal Tea"},
      {"*Chocolate|Chocolate", "*Crisps|Crisps", "*Cookies|Cookies", "*Nuts|Nuts", "*Granola Bars"},
      {"*Pasta|Pasta", "*Rice|Rice", "*Olive Oil|Olive Oil", "*Spices|Spice Mix",
       "*Canned Tomatoes|Canned Tomatoes"},
      {"*Cereals|Cereal", "*Muesli|Muesli", "*Jam|Jam", "*Honey|Honey", "*Peanut Butter|Peanut Butter"},
      {"*Mineral Water|Mineral Water", "*Juice|Juice", "*Soft Drinks", "*Red Wine|Red Wine",
       "*Craft Beer|Craft Beer"},
      {"*Vitamins|Vitamins", "*Protein Powder|Protein Powder", "*Pain Relief|Pain Relief",
       "*Plasters|Plasters",
       "*Allergy Relief|Allergy Relief"}}},
    {"Sports", 4000, 1,
     {"Fitness", "Running", "Cycling", "Outdoor", "Team Sports", "Swimming"},
     {{"Yoga Mats", "Dumbbells", "Resistance Bands", "Kettlebells", "Foam Rollers"},
      {"Running Shorts|Running Shorts", "Running Jackets", "*Energy Gels", "Running Socks|Running Socks",
       "Sports Watches"},
      {"Bikes", "Bike Helmets", "Bike Lights", "Bike Locks", "Cycling Gloves|Cycling Gloves"},
      {"Tents", "Sleeping Bags", "Hiking Boots", "Camping Stoves", "Headlamps"},
      {"Footballs", "Basketballs", "Shin Guards", "Goalkeeper Gloves|Goalkeeper Gloves", "Sports Bags"},
      {"Swimsuits", "Swim Goggles|Swim Goggles", "Swim Caps", "Beach Towels", "Kickboards"}}},
    {"Toys", 2000, 1,
     {"Building", "Dolls", "Games", "Outdoor Play", "Learning", "Baby"},
     {{"Building Blocks|Building Blocks", "Construction Sets", "Marble Runs", "Magnetic Tiles|Magnetic Tiles",
       "Wooden Blocks|Wooden Blocks"},
      {"Dolls", "Dollhouses", "Doll Clothes|Doll Clothes", "Action Figures", "Plush Toys"},
      {"Board Games", "Card Games", "Jigsaw Puzzles", "Party Games", "Strategy Games"},
      {"Scooters", "Trampolines", "Water Guns", "Kites", "Sandpit Toys"},
      {"Science Kits", "Art Supplies|Art Set", "Musical Toys", "Coding Robots", "Globes"},
      {"*Diapers|Diapers", "*Baby Wipes|Baby Wipes", "Pacifiers", "Baby Bottles", "Teething Toys"}}},
    {"Books", 1500, 0,
     {"Fiction", "Non-Fiction", "Children", "Cooking", "Hobbies", "Stationery"},
     {{"Crime Novels", "Fantasy Novels", "Romance Novels", "Science Fiction|Science Fiction Novel",
       "Literary Fiction|Novel"},
      {"Biographies", "History Books", "Popular Science|Science Book", "Self-Help Books", "Travel Guides"},
      {"Picture Books", "Early Readers", "Activity Books", "Young Adult|Young Adult Novel", "Comics"},
      {"Baking Books", "Vegetarian Cookbooks", "World Cuisine|World Cuisine Cookbook",
       "Quick Meals|Quick Meals Cookbook",
       "Diet Books"},
      {"Gardening Books", "Craft Books", "Photography Books", "Music Books", "Puzzle Books"},
      {"Notebooks", "*Pens", "Planners", "*Sticky Notes", "Desk Organizers"}}},
    {"Garden", 3000, 1,
     {"Plants", "Tools", "Watering", "Furniture", "Grilling", "Lawn Care"},
     {{"Houseplants", "*Seeds|Seeds", "Flower Bulbs", "Herb Plants", "Succulents"},
      {"Pruners", "Shovels", "Rakes", "Garden Gloves|Garden Gloves", "Watering Cans"},
      {"Garden Hoses", "Sprinklers", "Hose Reels", "Rain Barrels", "Irrigation Kits"},
      {"Garden Chairs", "Garden Tables", "Parasols", "Hammocks", "Sun Loungers"},
      {"Charcoal Grills", "Gas Grills", "*Charcoal|Charcoal", "Grill Tools", "Grill Covers"},
      {"Lawn Mowers", "Leaf Blowers", "Hedge Trimmers", "*Fertilizer|Fertilizer", "*Lawn Seed|Lawn Seed"}}},
    {"Pets", 1800, 2,
     {"Dogs", "Cats", "Fish", "Birds", "Small Pets", "Pet Care"},
     {{"*Dog Food|Dog Food", "*Dog Treats|Dog Treats", "Dog Beds", "Dog Leashes", "Dog Toys"},
      {"*Cat Food|Cat Food", "*Cat Litter|Cat Litter", "Scratching Posts", "Cat Toys", "Cat Beds"},
      {"Aquariums", "*Fish Food|Fish Food", "Aquarium Filters", "Aquarium Plants", "*Water Conditioners"},
      {"*Bird Seed|Bird Seed", "Bird Cages", "Bird Feeders", "Bird Toys", "Nest Boxes"},
      {"Rabbit Hutches", "*Hay|Hay", "Hamster Cages", "*Small Pet Bedding|Small Pet Bedding",
       "Exercise Wheels"},
      {"*Flea Treatments", "*Pet Shampoo|Pet Shampoo", "Grooming Brushes", "*Poop Bags", "Pet Carriers"}}},
};

static const char *const adjectives[] = {
    "Classic", "Premium", "Essential", "Compact", "Deluxe", "Eco", "Pro", "Ultra", "Smart", "Soft",
    "Modern", "Vintage", "Nordic", "Urban", "Studio", "Everyday", "Signature", "Original", "Lite", "Max",
    "Active", "Pure", "Natural", "Heritage", "Sport", "Travel", "Family", "Mini", "Grand", "Velvet"};
#define N_ADJ (sizeof adjectives / sizeof adjectives[0])
static const char *const colours[] = {"Black", "White", "Grey", "Navy", "Red",  "Green",
                                      "Blue",  "Beige", "Pink", "Oak",  "Silver", "Yellow"};
#define N_COLOUR (sizeof colours / sizeof colours[0])
static const char *const sizes[] = {"Small", "Medium", "Large", "Value Pack", "Family Size", "Travel Size"};
#define N_SIZE (sizeof sizes / sizeof sizes[0])
static const char *const brand_pre[] = {"Ka",  "Lu",  "No",  "Ve",  "Sol", "Mar", "Bri", "Tor",
                                        "Fen", "Ari", "Zel", "Ori", "Hal", "Dun", "Kin", "Pal",
                                        "Ro",  "Sa",  "Vi",  "Qui", "Es",  "Tam"};
static const char *const brand_suf[] = {"ra",  "lo",   "vik", "mark", "ton", "na",   "sen", "ia",
                                        "dal", "bo",   "ex",  "ora",  "lund", "ix",  "well", "berg"};

static const char *const age_bands[] = {"18-24", "25-34", "35-44", "45-54", "55-64", "65+"};
static const double age_cum[] = {12, 36, 58, 76, 90, 100};
/* How much each age band leans to each top category (Home, Electronics, Fashion, Beauty,
 * Grocery, Sports, Toys, Books, Garden, Pets); at most AFF_MAX. */
static const double age_affinity[6][GEN_TOPS] = {
    {0.6, 1.5, 1.5, 1.3, 0.9, 1.2, 0.4, 0.9, 0.3, 0.7}, {1.0, 1.3, 1.3, 1.1, 1.0, 1.2, 1.2, 0.9, 0.6, 1.0},
    {1.2, 1.0, 1.0, 1.0, 1.1, 1.0, 1.5, 1.0, 1.0, 1.1}, {1.3, 0.9, 0.9, 1.0, 1.1, 0.9, 0.9, 1.1, 1.4, 1.1},
    {1.3, 0.8, 0.8, 0.9, 1.1, 0.7, 0.7, 1.3, 1.6, 1.1}, {1.2, 0.6, 0.7, 0.8, 1.2, 0.5, 0.8, 1.4, 1.6, 1.0}};
#define AFF_MAX 1.6
static const char *const genders[] = {"female", "male", "diverse", "unspecified"};
static const double gender_cum[] = {51, 96, 97, 100};
static const char *const countries[] = {"DE", "FR", "NL", "IT", "ES", "BE",
                                        "AT", "PL", "SE", "IE", "PT", "FI"};
static const double country_cum[] = {28, 46, 56, 66, 76, 82, 87, 92, 95, 97, 99, 100};
static const char *const tiers[] = {"none", "bronze", "silver", "gold"};
static const double tier_buy[] = {0.35, 0.40, 0.45, 0.55};

/* Relative traffic by UTC hour, and by weekday from Monday. */
static const double hour_w[24] = {0.45, 0.25, 0.15, 0.10, 0.10, 0.15, 0.35, 0.60, 0.80, 0.90, 0.95, 1.00,
                                  1.05, 1.00, 0.95, 0.95, 1.00, 1.10, 1.30, 1.50, 1.60, 1.40, 1.00, 0.70};
static const double weekday_w[7] = {1.00, 0.97, 0.97, 0.98, 0.95, 1.05, 1.20};

/* ---- the model's state ---- */

typedef struct {
    char name[40], singular[40], lname[40], lsingular[40], path[96];
    uint16_t top, sub;
    uint8_t consumable, nrel;
    uint16_t rel[3];       /* related leaves, for bought-together partners */
    uint32_t first, n;     /* items [first, first + n), in popularity order */
    uint32_t lines;        /* product lines (similar items): position modulo lines */
    double lnn1;           /* log(n + 1) */
    double median;         /* price, euros */
    double weight;         /* popularity */
} gleaf_t;

typedef struct {
    char name[16], lname[16];
    double tier; /* price multiplier */
} gbrand_t;

typedef struct {
    uint32_t id;    /* "i<id>" */
    uint32_t cents; /* price */
    uint32_t partner[GEN_MAX_PARTNERS];
    float lrel; /* log(price / leaf median) */
    uint16_t leaf, brand;
    uint8_t npartner, flags, adj, variant;
} gitem_t;
#define IT_OUT_OF_STOCK 1
#define IT_CONSUMABLE 2
#define IT_TRENDING 4

typedef struct {
    uint32_t staple;   /* item, or GEN_NONE */
    int32_t due_min;   /* minutes from the period's start when the staple runs out */
    int32_t drift_min; /* when the tastes change; INT32_MAX: never */
    uint8_t cadence_d, age, tier, gender, country, consent;
} guser_t;
#define CONSENT_PERS 1
#define CONSENT_ANALYTICS 2

typedef struct {
    uint16_t leaf[GEN_TASTE_LEAVES];
    double cum[GEN_TASTE_LEAVES];
    int nleaf;
    uint16_t brand[GEN_TASTE_BRANDS];
    int nbrand;
    double sens; /* price sensitivity */
} taste_t;

/* One planned event. For searches, item holds leaf | (brand + 1) << 16 and qty the
 * query form. */
typedef struct {
    int64_t ts;
    uint32_t item;
    uint16_t qty;
    uint8_t type, with_user;
} gev_t;

typedef struct {
    uint64_t sid, oid; /* oid 0: no order */
    uint32_t user;     /* GEN_NONE for guests */
    uint16_t n, next;
    gev_t ev[GEN_SESSION_MAX];
} gsess_t;

typedef struct {
    FILE *f;
    char *buf;
    size_t len;
    uint64_t bytes;
    int err;
} gout_t;

typedef struct {
    int64_t day;
    char date[16];
} tscache_t;

typedef struct {
    gen_opts_t o;
    int64_t begin, tlast; /* period start; last possible session start */
    rng_t rng;

    gleaf_t leaves[GEN_LEAVES];
    uint16_t active[GEN_LEAVES];
    int nactive;
    uint16_t top_leaves[GEN_TOPS][GEN_SUBS * GEN_LEAFS_PER_SUB];
    double top_cum[GEN_TOPS][GEN_SUBS * GEN_LEAFS_PER_SUB];
    int ntop_leaves[GEN_TOPS];
    gbrand_t brands[GEN_TOPS * GEN_BRANDS];
    double brand_cum[GEN_BRANDS];
    alias_t leaf_alias; /* over active[] */
    gitem_t *items;
    uint32_t trend[GEN_MAX_TREND];
    int ntrend;
    int64_t trend_t0, trend_w;

    guser_t *users;
    alias_t user_alias;

    gsess_t *slots;
    uint32_t nslots, nfree, *freel;
    uint32_t *heap;
    uint32_t hn;
    uint64_t next_sid, next_oid, eid;
    uint64_t planned, plan_sessions, plan_events; /* for the arrival-rate controller */
    double week_prefix[169], week_w[168];

    gout_t out;
    tscache_t tsc;
    gen_stats_t st;
} gen_t;

static int gerr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int gerr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- output ---- */

static int out_open(gout_t *o, const char *dir, const char *name, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    o->len = 0;
    o->err = 0;
    o->f = fopen(path, "wb");
    if (!o->f)
        return gerr(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return 0;
}

static void out_flush(gout_t *o)
{
    if (o->len && !o->err && fwrite(o->buf, 1, o->len, o->f) != o->len)
        o->err = errno ? errno : EIO;
    o->bytes += o->len;
    o->len = 0;
}

/* Room for n more bytes (n well below OUT_BUF). */
static inline char *out_room(gout_t *o, size_t n)
{
    if (o->len + n > OUT_BUF)
        out_flush(o);
    return o->buf + o->len;
}

static int out_close(gout_t *o, const char *name, char *err, size_t errlen)
{
    out_flush(o);
    int e = o->err;
    if (fclose(o->f) != 0 && !e)
        e = errno ? errno : EIO;
    o->f = NULL;
    if (e)
        return gerr(err, errlen, "writing %s: %s", name, strerror(e));
    return 0;
}

static inline char *put_s(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

static inline char *put_u64(char *p, uint64_t v)
{
    char t[24];
    int n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = t[--n];
    return p;
}

static inline char *put_cents(char *p, uint32_t c)
{
    p = put_u64(p, c / 100);
    *p++ = '.';
    *p++ = (char)('0' + c / 10 % 10);
    *p++ = (char)('0' + c % 10);
    return p;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static inline char *put_2(char *p, int v)
{
    *p++ = (char)('0' + v / 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" for ms >= 0, the date part cached per day. */
static char *put_ts(char *p, tscache_t *c, int64_t ms)
{
    int64_t day = ms / DAY_MS;
    int64_t rem = ms - day * DAY_MS;
    if (day != c->day) {
        int y, m, d;
        civil_from_days(day, &y, &m, &d);
        char *q = c->date;
        q = put_2(q, y / 100);
        q = put_2(q, y % 100);
        *q++ = '-';
        q = put_2(q, m);
        *q++ = '-';
        q = put_2(q, d);
        c->day = day;
    }
    memcpy(p, c->date, 10);
    p += 10;
    *p++ = 'T';
    int s = (int)(rem / 1000), msr = (int)(rem % 1000);
    p = put_2(p, s / 3600);
    *p++ = ':';
    p = put_2(p, s / 60 % 60);
    *p++ = ':';
    p = put_2(p, s % 60);
    *p++ = '.';
    *p++ = (char)('0' + msr / 100);
    p = put_2(p, msr % 100);
    *p++ = 'Z';
    return p;
}

/* ---- catalog ---- */

static void lower(char *dst, const char *src, size_t cap)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] - 'A' + 'a') : src[i];
    dst[i] = '\0';
}

/* Appends src to dst (of capacity cap), cutting it short when it does not fit. */
static void append(char *dst, size_t cap, const char *src, size_t srcn)
{
    size_t n = strlen(dst);
    if (srcn > cap - 1 - n)
        srcn = cap - 1 - n;
    memcpy(dst + n, src, srcn);
    dst[n + srcn] = '\0';
}

static void singularize(char *dst, const char *plural, size_t cap)
{
    dst[0] = '\0';
    append(dst, cap, plural, strlen(plural));
    size_t n = strlen(dst);
    if (n > 3 && strcmp(dst + n - 3, "ies") == 0)
        strcpy(dst + n - 3, "y");
    else if (n > 4 && (strcmp(dst + n - 4, "sses") == 0 || strcmp(dst + n - 4, "shes") == 0 ||
                       strcmp(dst + n - 4, "ches") == 0))
        dst[n - 2] = '\0';
    else if (n > 3 && strcmp(dst + n - 3, "xes") == 0)
        dst[n - 2] = '\0';
    else if (n > 1 && dst[n - 1] == 's' && dst[n - 2] != 's')
        dst[n - 1] = '\0';
}

static void leaf_names(gleaf_t *L, int top, int sub, const char *def)
{
    L->top = (uint16_t)top;
    L->sub = (uint16_t)sub;
    L->consumable = def[0] == '*';
    if (L->consumable)
        def++;
    const char *bar = strchr(def, '|');
    L->name[0] = L->singular[0] = L->path[0] = '\0';
    if (bar) {
        append(L->name, sizeof L->name, def, (size_t)(bar - def));
        append(L->singular, sizeof L->singular, bar + 1, strlen(bar + 1));
    } else {
        append(L->name, sizeof L->name, def, strlen(def));
        singularize(L->singular, def, sizeof L->singular);
    }
    lower(L->lname, L->name, sizeof L->lname);
    lower(L->lsingular, L->singular, sizeof L->lsingular);
    const char *parts[] = {tops[top].name, "/", tops[top].subs[sub], "/", L->name};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        append(L->path, sizeof L->path, parts[i], strlen(parts[i]));
}

static void shuffle_u32(rng_t *r, uint32_t *v, uint32_t n)
{
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = rng_below(r, i);
        uint32_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

static uint32_t charm_cents(rng_t *r, double euros)
{
    if (euros < 0.49)
        return 49;
    uint32_t whole = (uint32_t)euros;
    static const uint32_t ends[] = {99, 99, 99, 49, 95};
    uint32_t end = ends[rng_below(r, 5)];
    if (whole == 0)
        return end;
    return (whole - 1) * 100 + end + (euros - whole > 0.5 ? 100 : 0);
}

/* Picks the active leaves (round-robin over the top categories, random within), their
 * sizes and popularity, the brands and the per-top leaf tables. */
static int build_leaves(gen_t *g, char *err, size_t errlen)
{
    rng_t r;
    rng_seed(&r, mix(g->o.seed, 1, 0));
    for (int t = 0; t < GEN_TOPS; t++) {
        double sub_f[GEN_SUBS];
        for (int s = 0; s < GEN_SUBS; s++)
            sub_f[s] = exp(0.5 * rng_normal(&r));
        for (int s = 0; s < GEN_SUBS; s++)
            for (int l = 0; l < GEN_LEAFS_PER_SUB; l++) {
                gleaf_t *L = &g->leaves[(t * GEN_SUBS + s) * GEN_LEAFS_PER_SUB + l];
                leaf_names(L, t, s, tops[t].leaves[s][l]);
                L->median = tops[t].median_cents / 100.0 * sub_f[s] * exp(0.3 * rng_normal(&r));
            }
        for (int b = 0; b < GEN_BRANDS; b++) {
            gbrand_t *B = &g->brands[t * GEN_BRANDS + b];
            for (int tries = 0, dup = 1; dup && tries < 50; tries++) { /* distinct names */
                snprintf(B->name, sizeof B->name, "%s%s",
                         brand_pre[rng_below(&r, sizeof brand_pre / sizeof brand_pre[0])],
                         brand_suf[rng_below(&r, sizeof brand_suf / sizeof brand_suf[0])]);
                dup = 0;
                for (int k = 0; k < t * GEN_BRANDS + b; k++)
                    dup |= strcmp(g->brands[k].name, B->name) == 0;
            }
            lower(B->lname, B->name, sizeof B->lname);
            B->tier = exp(0.35 * rng_normal(&r));
        }
    }
    for (int b = 0; b < GEN_BRANDS; b++)
        g->brand_cum[b] = (b ? g->brand_cum[b - 1] : 0) + 1.0 / (b + 1);

    /* Which leaves: about 12 items a leaf, spread over the tops. */
    uint32_t want = g->o.items / 12;
    if (want < 1)
        want = 1;
    if (want > GEN_LEAVES)
        want = GEN_LEAVES;
    uint32_t order[GEN_TOPS][GEN_SUBS * GEN_LEAFS_PER_SUB], torder[GEN_TOPS];
    for (int t = 0; t < GEN_TOPS; t++) {
        for (uint32_t i = 0; i < GEN_SUBS * GEN_LEAFS_PER_SUB; i++)
            order[t][i] = (uint32_t)t * GEN_SUBS * GEN_LEAFS_PER_SUB + i;
        shuffle_u32(&r, order[t], GEN_SUBS * GEN_LEAFS_PER_SUB);
        torder[t] = (uint32_t)t;
    }
    shuffle_u32(&r, torder, GEN_TOPS);
    g->nactive = 0;
    for (uint32_t round = 0; (uint32_t)g->nactive < want; round++)
        for (int t = 0; t < GEN_TOPS && (uint32_t)g->nactive < want; t++)
            g->active[g->nactive++] = (uint16_t)order[torder[t]][round];
    /* Keep the tree order (nicer files), then rank popularity at random. */
    for (int i = 1; i < g->nactive; i++)
        for (int j = i; j > 0 && g->active[j - 1] > g->active[j]; j--) {
            uint16_t t = g->active[j];
            g->active[j] = g->active[j - 1];
            g->active[j - 1] = t;
        }
    uint32_t rank[GEN_LEAVES];
    for (int i = 0; i < g->nactive; i++)
        rank[i] = (uint32_t)i;
    shuffle_u32(&r, rank, (uint32_t)g->nactive);

    /* Sizes: at least one item each, the rest in proportion to a log-normal weight. */
    double size_w[GEN_LEAVES], wsum = 0, pop[GEN_LEAVES];
    for (int i = 0; i < g->nactive; i++) {
        size_w[i] = exp(0.6 * rng_normal(&r));
        wsum += size_w[i];
    }
    uint32_t spare = g->o.items - (uint32_t)g->nactive, given = 0, first = 0;
    for (int i = 0; i < g->nactive; i++) {
        gleaf_t *L = &g->leaves[g->active[i]];
        uint32_t extra = (uint32_t)((double)spare * size_w[i] / wsum);
        given += extra;
        L->n = 1 + extra;
    }
    for (int i = 0; given < spare; i = (i + 1) % g->nactive, given++)
        g->leaves[g->active[i]].n++;
    for (int i = 0; i < g->nactive; i++) {
        gleaf_t *L = &g->leaves[g->active[i]];
        L->first = first;
        first += L->n;
        L->lnn1 = log((double)L->n + 1.0);
        L->lines = (L->n + GEN_LINE_SIZE - 1) / GEN_LINE_SIZE;
        L->weight = pop[i] = 1.0 / (rank[i] + 1.0);
        int t = L->top;
        int k = g->ntop_leaves[t]++;
        g->top_leaves[t][k] = g->active[i];
        g->top_cum[t][k] = (k ? g->top_cum[t][k - 1] : 0) + L->weight;
    }
    if (alias_build(&g->leaf_alias, pop, (uint32_t)g->nactive))
        return gerr(err, errlen, "out of memory");

    /* Related leaves: a sibling in the same subcategory, another of the same top, and
     * now and then one of another top. */
    for (int i = 0; i < g->nactive; i++) {
        gleaf_t *L = &g->leaves[g->active[i]];
        int t = L->top;
        uint16_t sib[GEN_SUBS * GEN_LEAFS_PER_SUB], other[GEN_SUBS * GEN_LEAFS_PER_SUB];
        int ns = 0, no = 0;
        for (int k = 0; k < g->ntop_leaves[t]; k++) {
            uint16_t id = g->top_leaves[t][k];
            if (id == g->active[i])
                continue;
            if (g->leaves[id].sub == L->sub)
                sib[ns++] = id;
            else
                other[no++] = id;
        }
        if (ns)
            L->rel[L->nrel++] = sib[rng_below(&r, (uint32_t)ns)];
        if (no)
            L->rel[L->nrel++] = other[rng_below(&r, (uint32_t)no)];
        if (g->nactive > 1 && (L->nrel == 0 || rng_chance(&r, 0.3))) {
            for (int tries = 0; tries < 20; tries++) {
                uint16_t id = g->active[rng_below(&r, (uint32_t)g->nactive)];
                if (g->leaves[id].top != t) {
                    L->rel[L->nrel++] = id;
                    break;
                }
            }
        }
    }
    return 0;
}

static inline uint32_t leaf_zipf(const gleaf_t *L, rng_t *r)
{
    return L->first + zipf_rank(r, L->n, L->lnn1);
}

static int build_items(gen_t *g, char *err, size_t errlen)
{
    uint32_t n = g->o.items;
    g->items = calloc(n, sizeof *g->items);
    uint32_t *ids = malloc((size_t)n * sizeof *ids);
    if (!g->items || !ids) {
        free(ids);
        return gerr(err, errlen, "out of memory for %u items", n);
    }
    rng_t r;
    rng_seed(&r, mix(g->o.seed, 2, 0));
    for (uint32_t i = 0; i < n; i++)
        ids[i] = i + 1;
    shuffle_u32(&r, ids, n);
    for (int a = 0; a < g->nactive; a++) {
        uint16_t lid = g->active[a];
        const gleaf_t *L = &g->leaves[lid];
        for (uint32_t k = 0; k < L->n; k++) {
            uint32_t i = L->first + k;
            gitem_t *it = &g->items[i];
            rng_t ir;
            rng_seed(&ir, mix(g->o.seed, 3, i));
            it->id = ids[i];
            it->leaf = lid;
            it->brand = (uint16_t)(L->top * GEN_BRANDS + pick_cum(&ir, g->brand_cum, GEN_BRANDS));
            double euros = L->median * g->brands[it->brand].tier * exp(0.45 * rng_normal(&ir));
            it->cents = charm_cents(&ir, euros);
            it->lrel = (float)log(it->cents / 100.0 / L->median);
            it->flags = (uint8_t)((rng_chance(&ir, 0.03) ? IT_OUT_OF_STOCK : 0) |
                                  (L->consumable ? IT_CONSUMABLE : 0));
            /* The product line shares its adjective. */
            uint32_t line = k % L->lines;
            it->adj = (uint8_t)(mix(g->o.seed, 4, (uint64_t)lid << 32 | line) % N_ADJ);
            it->variant = (uint8_t)rng_below(&ir, 64);
        }
    }
    free(ids);
    /* Partners: any item of a related leaf (the own leaf when there is none), not the
     * popular ones, so that popularity alone does not find them. */
    for (uint32_t i = 0; i < n; i++) {
        gitem_t *it = &g->items[i];
        const gleaf_t *L = &g->leaves[it->leaf];
        rng_t ir;
        rng_seed(&ir, mix(g->o.seed, 5, i));
        int want = 1 + rng_chance(&ir, 0.5) + rng_chance(&ir, 0.2);
        for (int tries = 0; tries < 12 && it->npartner < want; tries++) {
            const gleaf_t *P = L->nrel ? &g->leaves[L->rel[(it->npartner + tries) % L->nrel]] : L;
            uint32_t p = P->first + rng_below(&ir, P->n);
            int dup = p == i;
            for (int k = 0; k < it->npartner; k++)
                dup |= it->partner[k] == p;
            if (!dup)
                it->partner[it->npartner++] = p;
        }
    }
    /* Trending: mid/long-tail items in stock, of distinct leaves where possible. */
    int want = 3 + (int)(n / 20000);
    if (want > GEN_MAX_TREND)
        want = GEN_MAX_TREND;
    for (int tries = 0; tries < 1000 && g->ntrend < want; tries++) {
        const gleaf_t *L = &g->leaves[g->active[rng_below(&r, (uint32_t)g->nactive)]];
        if (L->n < 4 && tries < 500)
            continue;
        uint32_t i = L->first + L->n / 4 + rng_below(&r, L->n - L->n / 4);
        if (g->items[i].flags & (IT_OUT_OF_STOCK | IT_TRENDING))
            continue;
        g->items[i].flags |= IT_TRENDING;
        g->trend[g->ntrend++] = i;
    }
    int64_t period = g->o.end_ms - g->begin;
    g->trend_w = period / 6 < 5 * DAY_MS ? period / 6 : 5 * DAY_MS;
    g->trend_t0 = g->o.end_ms - g->trend_w;
    return 0;
}

/* ---- tastes ---- */

static uint16_t leaf_in_top(const gen_t *g, int top, rng_t *r)
{
    int k = pick_cum(r, g->top_cum[top], g->ntop_leaves[top]);
    return g->top_leaves[top][k];
}

static void taste_make(const gen_t *g, uint64_t seed, int age, taste_t *t)
{
    rng_t r;
    rng_seed(&r, seed);
    memset(t, 0, sizeof *t);
    int ntop = 1 + rng_chance(&r, 0.45) + rng_chance(&r, 0.15);
    int seen_top[GEN_TOPS] = {0};
    for (int k = 0; k < ntop && t->nleaf < GEN_TASTE_LEAVES; k++) {
        uint16_t leaf = g->active[alias_draw(&g->leaf_alias, &r)];
        for (int tries = 0; tries < 8; tries++) {
            int top = g->leaves[leaf].top;
            if (!seen_top[top] && rng_chance(&r, age_affinity[age][top] / AFF_MAX))
                break;
            leaf = g->active[alias_draw(&g->leaf_alias, &r)];
        }
        int top = g->leaves[leaf].top;
        seen_top[top] = 1;
        t->leaf[t->nleaf++] = leaf;
        if (t->nleaf < GEN_TASTE_LEAVES && rng_chance(&r, 0.5)) {
            uint16_t l2 = leaf_in_top(g, top, &r);
            int dup = 0;
            for (int i = 0; i < t->nleaf; i++)
                dup |= t->leaf[i] == l2;
            if (!dup)
                t->leaf[t->nleaf++] = l2;
        }
    }
    static const double lw[GEN_TASTE_LEAVES] = {1.0, 0.6, 0.4, 0.3};
    for (int i = 0; i < t->nleaf; i++)
        t->cum[i] = (i ? t->cum[i - 1] : 0) + lw[i];
    int nb = 1 + rng_chance(&r, 0.5) + rng_chance(&r, 0.2);
    for (int i = 0; i < nb; i++) {
        int top = g->leaves[t->leaf[rng_below(&r, (uint32_t)t->nleaf)]].top;
        t->brand[t->nbrand++] = (uint16_t)(top * GEN_BRANDS + pick_cum(&r, g->brand_cum, GEN_BRANDS));
    }
    t->sens = (rng_u01(&r) + rng_u01(&r)) / 2;
}

static int user_epoch(const gen_t *g, const guser_t *u, int64_t t)
{
    return u->drift_min != INT32_MAX && t >= g->begin + (int64_t)u->drift_min * 60000;
}

static void user_taste(const gen_t *g, uint32_t uid, int epoch, taste_t *t)
{
    taste_make(g, mix(g->o.seed, 10 + (uint64_t)epoch, uid), g->users[uid].age, t);
}

static int build_users(gen_t *g, char *err, size_t errlen)
{
    uint32_t n = g->o.users;
    g->users = calloc(n, sizeof *g->users);
    double *w = malloc((size_t)n * sizeof *w);
    if (!g->users || !w) {
        free(w);
        return gerr(err, errlen, "out of memory for %u users", n);
    }
    int64_t period_min = (g->o.end_ms - g->begin) / 60000;
    for (uint32_t i = 0; i < n; i++) {
        guser_t *u = &g->users[i];
        rng_t r;
        rng_seed(&r, mix(g->o.seed, 6, i));
        double z = rng_normal(&r);
        w[i] = exp(z);
        u->tier = (uint8_t)(z > 1.64 ? 3 : z > 1.04 ? 2 : z > 0 ? 1 : 0);
        u->age = (uint8_t)pick_cum(&r, age_cum, 6);
        u->gender = (uint8_t)pick_cum(&r, gender_cum, 4);
        u->country = (uint8_t)pick_cum(&r, country_cum, 12);
        u->consent = (uint8_t)((rng_chance(&r, 0.95) ? CONSENT_PERS : 0) |
                               (rng_chance(&r, 0.88) ? CONSENT_ANALYTICS : 0));
        u->drift_min = rng_chance(&r, 0.10) ? (int32_t)(rng_u01(&r) * (double)period_min) : INT32_MAX;
        u->staple = GEN_NONE;
        taste_t t;
        user_taste(g, i, 0, &t);
        int cons = -1;
        for (int k = 0; k < t.nleaf && cons < 0; k++)
            if (g->leaves[t.leaf[k]].consumable)
                cons = t.leaf[k];
        if (cons < 0 && rng_chance(&r, 0.25))
            for (int tries = 0; tries < 20 && cons < 0; tries++) {
                uint16_t l = g->active[alias_draw(&g->leaf_alias, &r)];
                if (g->leaves[l].consumable)
                    cons = l;
            }
        if (cons >= 0 && rng_chance(&r, 0.6)) {
            /* Households keep to their own brands: staples have a milder head than
             * views (rank density ~ 1/sqrt(rank)). */
            const gleaf_t *C = &g->leaves[cons];
            double x = rng_u01(&r);
            u->staple = C->first + (uint32_t)(x * x * C->n);
            u->cadence_d = (uint8_t)(10 + rng_below(&r, 36));
            u->due_min = (int32_t)(rng_u01(&r) * u->cadence_d * 1440);
        }
    }
    int rc = alias_build(&g->user_alias, w, n) ? gerr(err, errlen, "out of memory") : 0;
    free(w);
    return rc;
}

/* ---- writing the catalog and the customers ---- */

static int write_items(gen_t *g, char *err, size_t errlen)
{
    uint32_t n = g->o.items;
    uint32_t *by_id = malloc((size_t)n * sizeof *by_id);
    if (!by_id)
        return gerr(err, errlen, "out of memory");
    for (uint32_t i = 0; i < n; i++)
        by_id[g->items[i].id - 1] = i;
    int rc = out_open(&g->out, g->o.out_dir, "items.ndjson", err, errlen);
    if (rc)
        goto out;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = by_id[k];
        const gitem_t *it = &g->items[i];
        const gleaf_t *L = &g->leaves[it->leaf];
        const top_def_t *T = &tops[L->top];
        const gbrand_t *B = &g->brands[it->brand];
        rng_t r;
        rng_seed(&r, mix(g->o.seed, 7, i));
        int64_t created = g->begin - (int64_t)((0.05 + rng_u01(&r) * 2.95) * 365 * DAY_MS);
        created -= created % 1000;
        if (created < 0)
            created = 0;
        char title[160], variant[24] = "";
        if (T->variant == 1)
            snprintf(variant, sizeof variant, ", %s", colours[it->variant % N_COLOUR]);
        else if (T->variant == 2)
            snprintf(variant, sizeof variant, ", %s", sizes[it->variant % N_SIZE]);
        snprintf(title, sizeof title, "%s %s %s%s", B->name, adjectives[it->adj], L->singular, variant);
        char sub[48], adj[24];
        lower(sub, T->subs[L->sub], sizeof sub);
        lower(adj, adjectives[it->adj], sizeof adj);
        char *p = out_room(&g->out, 1024);
        p += sprintf(p,
                     "{\"item_id\":\"i%u\",\"title\":\"%s\",\"categories\":[\"%s\",\"%s\",\"%s\"],"
                     "\"brand\":\"%s\",\"price\":",
                     it->id, title, T->name, T->subs[L->sub], L->name, B->name);
        p = put_cents(p, it->cents);
        p += sprintf(p, ",\"currency\":\"EUR\",\"tags\":[\"%s\",\"%s\",\"%s\"", L->lname, sub, adj);
        if (it->flags & IT_CONSUMABLE)
            p = PUT_LIT(p, ",\"consumable\"");
        if (i - L->first < (L->n + 19) / 20)
            p = PUT_LIT(p, ",\"bestseller\"");
        p += sprintf(p, "],\"in_stock\":%s,\"created_at\":\"",
                     it->flags & IT_OUT_OF_STOCK ? "false" : "true");
        p = put_ts(p, &g->tsc, created);
        p = PUT_LIT(p, "\"}\n");
        g->out.len = (size_t)(p - g->out.buf);
    }
    rc = out_close(&g->out, "items.ndjson", err, errlen);
out:
    free(by_id);
    return rc;
}

static int write_users(gen_t *g, char *err, size_t errlen)
{
    if (out_open(&g->out, g->o.out_dir, "users.ndjson", err, errlen))
        return -1;
    for (uint32_t i = 0; i < g->o.users; i++) {
        const guser_t *u = &g->users[i];
        char *p = out_room(&g->out, 512);
        p += sprintf(p,
                     "{\"user_id\":\"u%u\",\"age_band\":\"%s\",\"gender\":\"%s\",\"country\":\"%s\","
                     "\"loyalty_tier\":\"%s\",\"consent\":{\"personalization\":%s,\"analytics\":%s}}\n",
                     i + 1, age_bands[u->age], genders[u->gender], countries[u->country], tiers[u->tier],
                     u->consent & CONSENT_PERS ? "true" : "false",
                     u->consent & CONSENT_ANALYTICS ? "true" : "false");
        g->out.len = (size_t)(p - g->out.buf);
    }
    return out_close(&g->out, "users.ndjson", err, errlen);
}

static char *put_taste_leaves(char *p, const gen_t *g, const taste_t *t)
{
    *p++ = '[';
    for (int k = 0; k < t->nleaf; k++)
        p += sprintf(p, "%s\"%s\"", k ? "," : "", g->leaves[t->leaf[k]].path);
    *p++ = ']';
    return p;
}

static int write_truth(gen_t *g, char *err, size_t errlen)
{
    if (out_open(&g->out, g->o.out_dir, "truth.ndjson", err, errlen))
        return -1;
    for (uint32_t i = 0; i < g->o.items; i++) {
        const gitem_t *it = &g->items[i];
        const gleaf_t *L = &g->leaves[it->leaf];
        char *p = out_room(&g->out, 1024);
        p += sprintf(p,
                     "{\"item_id\":\"i%u\",\"leaf\":\"%s\",\"consumable\":%s,\"trending\":%s,"
                     "\"bought_with\":[",
                     it->id, L->path, it->flags & IT_CONSUMABLE ? "true" : "false",
                     it->flags & IT_TRENDING ? "true" : "false");
        for (int k = 0; k < it->npartner; k++)
            p += sprintf(p, "%s\"i%u\"", k ? "," : "", g->items[it->partner[k]].id);
        p = PUT_LIT(p, "],\"similar\":[");
        uint32_t pos = i - L->first, line = pos % L->lines;
        int m = 0;
        for (uint32_t q = line; q < L->n && m < 16; q += L->lines)
            if (q != pos)
                p += sprintf(p, "%s\"i%u\"", m++ ? "," : "", g->items[L->first + q].id);
        p = PUT_LIT(p, "]}\n");
        g->out.len = (size_t)(p - g->out.buf);
    }
    for (uint32_t i = 0; i < g->o.users; i++) {
        const guser_t *u = &g->users[i];
        taste_t t;
        user_taste(g, i, 0, &t);
        char *p = out_room(&g->out, 2048);
        p += sprintf(p, "{\"user_id\":\"u%u\",\"leaves\":", i + 1);
        p = put_taste_leaves(p, g, &t);
        if (u->drift_min != INT32_MAX) {
            taste_t t2;
            user_taste(g, i, 1, &t2);
            p = PUT_LIT(p, ",\"leaves_after\":");
            p = put_taste_leaves(p, g, &t2);
            p = PUT_LIT(p, ",\"drift_at\":\"");
            p = put_ts(p, &g->tsc, g->begin + (int64_t)u->drift_min * 60000);
            *p++ = '"';
        }
        p = PUT_LIT(p, ",\"brands\":[");
        for (int k = 0; k < t.nbrand; k++)
            p += sprintf(p, "%s\"%s\"", k ? "," : "", g->brands[t.brand[k]].name);
        p += sprintf(p, "],\"price_sensitivity\":%.2f", t.sens);
        if (u->staple != GEN_NONE)
            p += sprintf(p, ",\"staple\":\"i%u\",\"cadence_days\":%u", g->items[u->staple].id, u->cadence_d);
        p = PUT_LIT(p, "}\n");
        g->out.len = (size_t)(p - g->out.buf);
    }
    return out_close(&g->out, "truth.ndjson", err, errlen);
}

/* ---- planning one session ---- */

typedef struct {
    gen_t *g;
    gsess_t *s;
    rng_t *r;
    const guser_t *u; /* NULL for guests */
    taste_t taste;
    int64_t t, tmax;
    uint32_t budget;
    int full, with_user, login_step;
    uint32_t cart[GEN_CART_MAX];
    uint16_t cart_qty[GEN_CART_MAX];
    int ncart;
    uint32_t last_view;
    int focus_leaf, focus_brand;
} plan_t;

/* Appends an event dt after the previous one; 0, or -1 when the session is over (30
 * minutes, its room or the run's event budget). */
static int plan_add(plan_t *p, int64_t dt, int type, uint32_t item, uint16_t qty)
{
    gsess_t *s = p->s;
    if (p->full || p->t + dt > p->tmax || s->n >= GEN_SESSION_MAX || s->n >= p->budget) {
        p->full = 1;
        return -1;
    }
    p->t += dt;
    gev_t *e = &s->ev[s->n++];
    e->ts = p->t;
    e->type = (uint8_t)type;
    e->item = item;
    e->qty = qty;
    e->with_user = (uint8_t)p->with_user;
    return 0;
}

static double item_score(const plan_t *p, uint32_t i)
{
    const gitem_t *it = &p->g->items[i];
    double sc = -p->taste.sens * it->lrel;
    for (int k = 0; k < p->taste.nbrand; k++)
        if (p->taste.brand[k] == it->brand)
            sc += 1.0;
    if (p->focus_brand >= 0 && it->brand == p->focus_brand)
        sc += 2.0;
    return sc;
}

/* The better of two popularity draws in a leaf, by the customer's taste. */
static uint32_t pick_in_leaf(plan_t *p, int leaf)
{
    const gleaf_t *L = &p->g->leaves[leaf];
    uint32_t a = leaf_zipf(L, p->r);
    if (L->n == 1)
        return a;
    uint32_t b = leaf_zipf(L, p->r);
    return item_score(p, b) > item_score(p, a) ? b : a;
}

static uint32_t pick_similar(plan_t *p, uint32_t i)
{
    const gleaf_t *L = &p->g->leaves[p->g->items[i].leaf];
    uint32_t pos = i - L->first, line = pos % L->lines;
    uint32_t cnt = (L->n - 1 - line) / L->lines + 1;
    if (cnt < 2)
        return GEN_NONE;
    uint32_t q;
    do
        q = line + rng_below(p->r, cnt) * L->lines;
    while (q == pos);
    return L->first + q;
}

static int taste_leaf(plan_t *p)
{
    return p->taste.leaf[pick_cum(p->r, p->taste.cum, p->taste.nleaf)];
}

static uint32_t pick_view(plan_t *p)
{
    gen_t *g = p->g;
    if (g->ntrend && p->t > g->trend_t0 &&
        rng_chance(p->r, 0.08 * (double)(p->t - g->trend_t0) / (double)g->trend_w))
        return g->trend[rng_below(p->r, (uint32_t)g->ntrend)];
    if (p->last_view != GEN_NONE && rng_chance(p->r, 0.35)) {
        uint32_t s = pick_similar(p, p->last_view);
        if (s != GEN_NONE)
            return s;
    }
    if (p->focus_leaf < 0 || !rng_chance(p->r, 0.55)) {
        if (rng_chance(p->r, 0.12))
            p->focus_leaf = g->active[alias_draw(&g->leaf_alias, p->r)];
        else
            p->focus_leaf = taste_leaf(p);
        p->focus_brand = -1;
    }
    return pick_in_leaf(p, p->focus_leaf);
}

static int in_cart(const plan_t *p, uint32_t item)
{
    for (int k = 0; k < p->ncart; k++)
        if (p->cart[k] == item)
            return 1;
    return 0;
}

static uint16_t cart_quantity(plan_t *p, uint32_t item)
{
    if (p->g->items[item].flags & IT_CONSUMABLE) {
        uint16_t q = 1;
        while (q < 6 && rng_chance(p->r, 0.35))
            q++;
        return q;
    }
    return (uint16_t)(rng_chance(p->r, 0.92) ? 1 : rng_chance(p->r, 0.8) ? 2 : 3);
}

static int add_to_cart(plan_t *p, uint32_t item, uint16_t qty)
{
    if (p->ncart >= GEN_CART_MAX || in_cart(p, item) || (p->g->items[item].flags & IT_OUT_OF_STOCK))
        return -1;
    if (plan_add(p, rng_lognormal_ms(p->r, 12000, 0.7, 2000, 90000), EV_ADD, item, qty))
        return -1;
    p->cart[p->ncart] = item;
    p->cart_qty[p->ncart++] = qty;
    return 0;
}

static void view(plan_t *p, uint32_t item, int64_t dt)
{
    if (rng_chance(p->r, 0.25)) {
        if (plan_add(p, dt, EV_CLICK, item, 0))
            return;
        dt = 400 + rng_below(p->r, 2000);
    }
    if (plan_add(p, dt, EV_VIEW, item, 0) == 0)
        p->last_view = item;
}

/* Carts item, then each bought-together partner with probability 0.45. */
static void cart_with_partners(plan_t *p, uint32_t item, uint16_t qty)
{
    if (add_to_cart(p, item, qty))
        return;
    const gitem_t *it = &p->g->items[item];
    for (int k = 0; k < it->npartner; k++) {
        uint32_t q = it->partner[k];
        if (!rng_chance(p->r, 0.45) || in_cart(p, q))
            continue;
        view(p, q, rng_lognormal_ms(p->r, 15000, 0.6, 3000, 90000));
        add_to_cart(p, q, cart_quantity(p, q));
    }
}

static void search(plan_t *p, int leaf, int brand, int64_t dt)
{
    uint16_t form = (uint16_t)rng_below(p->r, 4);
    if (form == 1 && brand < 0)
        form = 0;
    if (form != 1)
        brand = -1;
    if (plan_add(p, dt, EV_SEARCH, (uint32_t)leaf | (uint32_t)(brand + 1) << 16, form) == 0) {
        p->focus_leaf = leaf;
        p->focus_brand = brand;
    }
}

static void login(plan_t *p)
{
    if (p->u && !p->with_user)
        p->with_user = 1;
}

/* Plans the session whose first event is at s->ev[0]: see gen.h for the model. */
static void plan_session(gen_t *g, gsess_t *s, int64_t start, uint32_t budget)
{
    plan_t P = {.g = g, .s = s, .r = &g->rng, .t = start, .tmax = start + GEN_SESSION_MS - 1,
                .budget = budget, .last_view = GEN_NONE, .focus_leaf = -1, .focus_brand = -1,
                .login_step = -1};
    plan_t *p = &P;
    rng_t *r = p->r;
    s->n = s->next = 0;
    s->oid = 0;
    s->user = GEN_NONE;
    int anon = rng_chance(r, 0.20);
    if (!anon || rng_chance(r, 0.30)) {
        s->user = alias_draw(&g->user_alias, r);
        p->u = &g->users[s->user];
        p->with_user = !anon;
        user_taste(g, s->user, user_epoch(g, p->u, start), &p->taste);
    } else {
        taste_make(g, mix(g->o.seed, 12, s->sid), (int)pick_cum(r, age_cum, 6), &p->taste);
    }
    int steps = rng_chance(r, 0.30) ? 1 : 2 + (int)(rng_exp(r) * 4.0);
    if (steps > 30)
        steps = 30;
    if (anon && p->u)
        p->login_step = 1 + (int)rng_below(r, (uint32_t)steps); /* == steps: at checkout */
    double buy = p->u ? tier_buy[p->u->tier] : 0.20;
    int64_t first = 0; /* the first event is at start */
    if (p->u && p->u->staple != GEN_NONE && start >= g->begin + (int64_t)p->u->due_min * 60000 &&
        rng_chance(r, 0.6)) {
        uint32_t it = p->u->staple;
        if (rng_chance(r, 0.5)) {
            search(p, g->items[it].leaf, g->items[it].brand, first);
            first = rng_lognormal_ms(r, 6000, 0.5, 1500, 30000);
        }
        view(p, it, first);
        first = -1;
        if (!(g->items[it].flags & IT_OUT_OF_STOCK) && rng_chance(r, 0.9)) {
            cart_with_partners(p, it, cart_quantity(p, it));
            buy = 0.9;
        }
    } else if (rng_chance(r, 0.25)) {
        int leaf = taste_leaf(p), brand = -1;
        if (rng_chance(r, 0.4))
            brand = p->taste.brand[rng_below(r, (uint32_t)p->taste.nbrand)];
        search(p, leaf, brand, 0);
        first = rng_lognormal_ms(r, 6000, 0.5, 1500, 30000);
    }
    for (int step = 0; step < steps && !p->full; step++) {
        if (step == p->login_step)
            login(p);
        int64_t dt = first >= 0 ? first : rng_lognormal_ms(r, 25000, 0.9, 1500, 300000);
        first = -1;
        if (step > 0 && rng_chance(r, 0.04)) {
            search(p, taste_leaf(p), -1, dt);
            dt = rng_lognormal_ms(r, 6000, 0.5, 1500, 30000);
        }
        uint32_t it = pick_view(p);
        view(p, it, dt);
        if (p->full)
            break;
        const gitem_t *gi = &g->items[it];
        double pc = 0.065;
        for (int k = 0; k < p->taste.nbrand; k++)
            if (p->taste.brand[k] == gi->brand)
                pc *= 1.7;
        if (gi->leaf == p->focus_leaf && p->focus_brand >= 0)
            pc *= 1.3;
        double fit = 1.0 - p->taste.sens * gi->lrel;
        pc *= fit < 0.3 ? 0.3 : fit > 1.7 ? 1.7 : fit;
        if (!p->u)
            pc *= 0.7;
        if (rng_chance(r, pc))
            cart_with_partners(p, it, cart_quantity(p, it));
        if (p->ncart && rng_chance(r, 0.06)) {
            int k = (int)rng_below(r, (uint32_t)p->ncart);
            int64_t dr = rng_lognormal_ms(r, 8000, 0.6, 1500, 60000);
            if (plan_add(p, dr, EV_REMOVE, p->cart[k], p->cart_qty[k]) == 0) {
                p->cart[k] = p->cart[--p->ncart];
                p->cart_qty[k] = p->cart_qty[p->ncart];
            }
        }
    }
    if (p->ncart && !p->full && rng_chance(r, buy)) {
        login(p);
        int64_t dt = rng_lognormal_ms(r, 45000, 0.5, 10000, 240000);
        for (int k = 0; k < p->ncart; k++, dt = 0) {
            if (plan_add(p, dt, EV_PURCHASE, p->cart[k], p->cart_qty[k]))
                break;
            if (!s->oid)
                s->oid = ++g->next_oid;
            /* Habits: the staple is due again a cadence later; a first consumable bought
             * becomes the staple. */
            uint32_t it = p->cart[k];
            if (p->u && (g->items[it].flags & IT_CONSUMABLE)) {
                guser_t *u = &g->users[s->user];
                if (u->staple == GEN_NONE) {
                    u->staple = it;
                    u->cadence_d = (uint8_t)(10 + rng_below(r, 36));
                }
                if (u->staple == it)
                    u->due_min = (int32_t)((p->t - g->begin) / 60000 +
                                           (int64_t)(u->cadence_d * 1440 * (0.8 + 0.4 * rng_u01(r))));
            }
        }
    }
}

/* ---- the event loop: session arrivals and a min-heap of open sessions ---- */

static inline int sess_less(const gen_t *g, uint32_t a, uint32_t b)
{
    const gsess_t *x = &g->slots[a], *y = &g->slots[b];
    int64_t tx = x->ev[x->next].ts, ty = y->ev[y->next].ts;
    return tx < ty || (tx == ty && x->sid < y->sid);
}

static void heap_down(gen_t *g, uint32_t i)
{
    uint32_t n = g->hn, *h = g->heap;
    for (;;) {
        uint32_t l = 2 * i + 1, m = i;
        if (l < n && sess_less(g, h[l], h[m]))
            m = l;
        if (l + 1 < n && sess_less(g, h[l + 1], h[m]))
            m = l + 1;
        if (m == i)
            return;
        uint32_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_up(gen_t *g, uint32_t i)
{
    uint32_t *h = g->heap;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!sess_less(g, h[i], h[parent]))
            return;
        uint32_t t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

static int slot_get(gen_t *g, uint32_t *out)
{
    if (!g->nfree) {
        uint32_t n = g->nslots ? 2 * g->nslots : 256;
        gsess_t *s = realloc(g->slots, (size_t)n * sizeof *s);
        if (!s)
            return -1;
        g->slots = s;
        uint32_t *f = realloc(g->freel, (size_t)n * sizeof *f), *h = NULL;
        if (f)
            g->freel = f;
        if (f)
            h = realloc(g->heap, (size_t)n * sizeof *h);
        if (!f || !h)
            return -1;
        g->heap = h;
        for (uint32_t i = n; i > g->nslots; i--)
            g->freel[g->nfree++] = i - 1;
        g->nslots = n;
    }
    *out = g->freel[--g->nfree];
    return 0;
}

/* Cumulative traffic weight (x hour-ms) from the epoch to t. */
static double cum_weight(const gen_t *g, int64_t t)
{
    int64_t h = t / HOUR_MS;
    int64_t week = h / 168, hw = h % 168;
    return ((double)week * g->week_prefix[168] + g->week_prefix[hw]) * HOUR_MS +
           g->week_w[hw] * (double)(t - h * HOUR_MS);
}

/* When the next session starts after t: a Poisson process that follows the daily and
 * weekly cycle (the cumulative weight is inverted hour by hour), its rate set so that
 * the events left are spent by tlast. */
static int64_t next_arrival(gen_t *g, int64_t t)
{
    uint64_t left = g->o.events - g->planned;
    double per = (g->plan_events + 20 * 7.4) / (g->plan_sessions + 20.0); /* prior: 7.4 events a session */
    double sessions_left = (double)left / per;
    double wleft = cum_weight(g, g->tlast) - cum_weight(g, t);
    if (wleft <= 0 || sessions_left <= 0)
        return t;
    double need = rng_exp(&g->rng) * wleft / sessions_left; /* weight x ms until the next one */
    if (need >= wleft)
        return g->tlast;
    double week = g->week_prefix[168] * HOUR_MS;
    if (need > week) {
        int64_t weeks = (int64_t)(need / week);
        t += weeks * 168 * HOUR_MS;
        need -= (double)weeks * week;
    }
    for (;;) {
        int64_t h = t / HOUR_MS, hend = (h + 1) * HOUR_MS;
        double w = g->week_w[h % 168], seg = w * (double)(hend - t);
        if (need <= seg) {
            t += (int64_t)(need / w);
            break;
        }
        need -= seg;
        t = hend;
    }
    return t < g->tlast ? t : g->tlast;
}

static char *put_query(char *p, const gen_t *g, const gev_t *e)
{
    const gleaf_t *L = &g->leaves[e->item & 0xffff];
    uint32_t b = e->item >> 16;
    switch (e->qty) {
    case 0: return put_s(p, L->lname);
    case 1:
        p = put_s(p, g->brands[b - 1].lname);
        *p++ = ' ';
        return put_s(p, L->lname);
    case 2: return put_s(p, L->lsingular);
    default: {
        /* A product line of the leaf: the adjective of its most popular item. */
        char adj[24];
        lower(adj, adjectives[g->items[L->first].adj], sizeof adj);
        p = put_s(p, adj);
        *p++ = ' ';
        return put_s(p, L->lsingular);
    }
    }
}

static void emit(gen_t *g, gsess_t *s, const gev_t *e)
{
    char *p = out_room(&g->out, 512);
    p = PUT_LIT(p, "{\"event_id\":\"e");
    p = put_u64(p, ++g->eid);
    p = PUT_LIT(p, "\",\"type\":\"");
    p = put_s(p, ev_names[e->type]);
    if (e->with_user) {
        p = PUT_LIT(p, "\",\"user_id\":\"u");
        p = put_u64(p, (uint64_t)s->user + 1);
    }
    p = PUT_LIT(p, "\",\"session_id\":\"s");
    p = put_u64(p, s->sid);
    if (e->type == EV_SEARCH) {
        p = PUT_LIT(p, "\",\"query\":\"");
        p = put_query(p, g, e);
        *p++ = '"';
    } else {
        const gitem_t *it = &g->items[e->item];
        p = PUT_LIT(p, "\",\"item_id\":\"i");
        p = put_u64(p, it->id);
        *p++ = '"';
        if (e->type == EV_ADD || e->type == EV_REMOVE || e->type == EV_PURCHASE) {
            p = PUT_LIT(p, ",\"quantity\":");
            p = put_u64(p, e->qty);
            p = PUT_LIT(p, ",\"price\":");
            p = put_cents(p, it->cents);
        }
        if (e->type == EV_PURCHASE) {
            p = PUT_LIT(p, ",\"order_id\":\"o");
            p = put_u64(p, s->oid);
            *p++ = '"';
            if (e == &s->ev[0] || e[-1].type != EV_PURCHASE)
                g->st.orders++;
        }
    }
    p = PUT_LIT(p, ",\"ts\":\"");
    p = put_ts(p, &g->tsc, e->ts);
    p = PUT_LIT(p, "\"}\n");
    g->out.len = (size_t)(p - g->out.buf);
    g->st.by_type[e->type]++;
    g->st.events++;
}

static int run_events(gen_t *g, char *err, size_t errlen)
{
    if (out_open(&g->out, g->o.out_dir, "events.ndjson", err, errlen))
        return -1;
    int64_t next = g->o.events ? next_arrival(g, g->begin) : 0;
    for (;;) {
        int more = g->planned < g->o.events;
        if (more && (g->hn == 0 || next <= g->slots[g->heap[0]].ev[g->slots[g->heap[0]].next].ts)) {
            uint32_t si;
            if (slot_get(g, &si)) {
                out_close(&g->out, "events.ndjson", NULL, 0);
                return gerr(err, errlen, "out of memory for open sessions");
            }
            gsess_t *s = &g->slots[si];
            s->sid = ++g->next_sid;
            plan_session(g, s, next, (uint32_t)(g->o.events - g->planned < GEN_SESSION_MAX
                                                    ? g->o.events - g->planned
                                                    : GEN_SESSION_MAX));
            g->planned += s->n;
            g->plan_sessions++;
            g->plan_events += s->n;
            g->st.sessions++;
            g->heap[g->hn++] = si;
            heap_up(g, g->hn - 1);
            if (g->planned < g->o.events)
                next = next_arrival(g, next);
            continue;
        }
        if (g->hn == 0)
            break;
        uint32_t si = g->heap[0];
        gsess_t *s = &g->slots[si];
        emit(g, s, &s->ev[s->next++]);
        if (s->next == s->n) {
            g->heap[0] = g->heap[--g->hn];
            g->freel[g->nfree++] = si;
        }
        if (g->hn)
            heap_down(g, 0);
    }
    return out_close(&g->out, "events.ndjson", err, errlen);
}

/* ---- entry points ---- */

void gen_opts_default(gen_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->items = 10000;
    o->users = 100000;
    o->events = 1000000;
    o->days = 90;
    o->end_ms = 1793491200000LL; /* 2026-11-01T00:00:00Z */
}

/* mkdir -p. */
static int make_dirs(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(path, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

static void gen_free(gen_t *g)
{
    if (g->out.f)
        fclose(g->out.f);
    free(g->out.buf);
    free(g->items);
    free(g->users);
    alias_free(&g->leaf_alias);
    alias_free(&g->user_alias);
    free(g->slots);
    free(g->freel);
    free(g->heap);
    free(g);
}

int gen_run(const gen_opts_t *o, gen_stats_t *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    if (!o->out_dir || !*o->out_dir)
        return gerr(err, errlen, "no output directory");
    if (o->items < 1 || o->users < 1 || o->days < 1)
        return gerr(err, errlen, "items, users and days must be at least 1");
    int64_t begin = o->end_ms - (int64_t)o->days * DAY_MS;
    if (begin < 0)
        return gerr(err, errlen, "the period starts before 1970");
    if (make_dirs(o->out_dir))
        return gerr(err, errlen, "cannot create %s: %s", o->out_dir, strerror(errno));
    uint64_t t0 = time_mono_ns();
    gen_t *g = calloc(1, sizeof *g);
    if (!g)
        return gerr(err, errlen, "out of memory");
    int rc = -1;
    g->o = *o;
    g->begin = begin;
    g->tlast = o->end_ms - GEN_SESSION_MS - 1;
    if (g->tlast < begin)
        g->tlast = begin;
    g->tsc.day = INT64_MIN;
    g->out.buf = malloc(OUT_BUF);
    if (!g->out.buf) {
        gerr(err, errlen, "out of memory");
        goto fail;
    }
    rng_seed(&g->rng, mix(o->seed, 99, 0));
    for (int h = 0; h < 168; h++) {
        /* Hour 0 of the epoch week is Thursday 00:00 UTC. */
        g->week_w[h] = hour_w[h % 24] * weekday_w[(h / 24 + 3) % 7];
        g->week_prefix[h + 1] = g->week_prefix[h] + g->week_w[h];
    }
    if (build_leaves(g, err, errlen) || build_items(g, err, errlen) || build_users(g, err, errlen) ||
        write_items(g, err, errlen) || write_users(g, err, errlen) || run_events(g, err, errlen))
        goto fail;
    /* After the events, so that the truth names the staples customers ended up with. */
    if (o->truth && write_truth(g, err, errlen))
        goto fail;
    rc = 0;
fail:
    g->st.bytes = g->out.bytes;
    g->st.seconds = (double)(time_mono_ns() - t0) / 1e9;
    *st = g->st;
    gen_free(g);
    return rc;
}

static void gen_usage(FILE *f)
{
    fprintf(f, "Usage: aisle gen --out DIR [flags]\n\n"
               "Writes a synthetic shop (DIR/items.ndjson, users.ndjson, events.ndjson) in the API's\n"
               "formats; the same flags always give the same bytes.\n\n"
               "Flags:\n"
               "  --out DIR          output directory, created when missing (required)\n"
               "  --seed N           random seed [1]\n"
               "  --items N          catalog size [10000]\n"
               "  --users N          customers [100000]\n"
               "  --events N         behavioural events [1000000]\n"
               "  --days N           length of the period [90]\n"
               "  --end TIME         end of the period, RFC 3339; every event is before it\n"
               "                     [2026-11-01T00:00:00Z]\n"
               "  --truth            also write DIR/truth.ndjson: the planted structure\n"
               "  -h, --help         this help\n");
}

static int parse_count(const char *name, const char *val, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(val, &end, 10);
    if (end == val || *end || errno || *val == '-' || v < min || v > max) {
        fprintf(stderr, "aisle: --%s wants a number from %llu to %llu, got '%s'\n", name,
                (unsigned long long)min, (unsigned long long)max, val);
        return -1;
    }
    *out = v;
    return 0;
}

static int gen_set(gen_opts_t *o, const char *name, const char *val)
{
    uint64_t v;
    if (strcmp(name, "out") == 0) {
        if (!*val) {
            fprintf(stderr, "aisle: --out wants a directory\n");
            return -1;
        }
        o->out_dir = val;
    } else if (strcmp(name, "seed") == 0) {
        if (parse_count(name, val, 0, UINT64_MAX, &v))
            return -1;
        o->seed = v;
    } else if (strcmp(name, "items") == 0) {
        if (parse_count(name, val, 1, 10000000, &v))
            return -1;
        o->items = (uint32_t)v;
    } else if (strcmp(name, "users") == 0) {
        if (parse_count(name, val, 1, 50000000, &v))
            return -1;
        o->users = (uint32_t)v;
    } else if (strcmp(name, "events") == 0) {
        if (parse_count(name, val, 0, 1000000000000ull, &v))
            return -1;
        o->events = v;
    } else if (strcmp(name, "days") == 0) {
        if (parse_count(name, val, 1, 3650, &v))
            return -1;
        o->days = (uint32_t)v;
    } else if (strcmp(name, "end") == 0) {
        if (time_parse_rfc3339(val, strlen(val), &o->end_ms)) {
            fprintf(stderr, "aisle: --end wants an RFC 3339 time such as 2026-11-01T00:00:00Z, got '%s'\n",
                    val);
            return -1;
        }
    } else {
        fprintf(stderr, "aisle: unknown flag --%s (see aisle gen --help)\n", name);
        return -1;
    }
    return 0;
}

static int gen_flag(void *ud, const char *name, const char *val)
{
    gen_opts_t *o = ud;
    if (strcmp(name, "truth") == 0) {
        o->truth = 1;
        return 0;
    }
    return gen_set(o, name, val);
}

int gen_main(int argc, char **argv)
{
    gen_opts_t o;
    gen_opts_default(&o);
    static const char *const switches[] = {"truth", NULL};
    int rc = flags_parse(argc, argv, "gen", switches, gen_flag, &o, gen_usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!o.out_dir) {
        fprintf(stderr, "aisle: gen needs --out DIR (see aisle gen --help)\n");
        return 2;
    }
    gen_stats_t st;
    char err[512];
    if (gen_run(&o, &st, err, sizeof err)) {
        fprintf(stderr, "aisle: gen: %s\n", err);
        return 1;
    }
    printf("aisle gen: %llu events (", (unsigned long long)st.events);
    for (int t = 0; t < 6; t++)
        printf("%s%s %llu", t ? ", " : "", ev_names[t], (unsigned long long)st.by_type[t]);
    printf("), %llu sessions, %llu orders, %u items, %u users, %llu bytes in %.2f s -> %s\n",
           (unsigned long long)st.sessions, (unsigned long long)st.orders, o.items, o.users,
           (unsigned long long)st.bytes, st.seconds, o.out_dir);
    return 0;
}
