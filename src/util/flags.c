/* Flag parsing shared by `aisle serve` and `aisle gen`. */
#include "flags.h"

#include <stdlib.h>
#include <string.h>

static int is_switch(const char *const *switches, const char *name)
{
    for (; switches && *switches; switches++)
        if (strcmp(*switches, name) == 0)
            return 1;
    return 0;
}

int flags_parse(int argc, char **argv, const char *cmd, const char *const *switches, flags_set_fn set, void *ud,
                void (*usage)(FILE *))
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "aisle: unexpected argument '%s' (see aisle %s --help)\n", a, cmd);
            return 2;
        }
        char name[64];
        const char *val;
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a + 2);
            if (is_switch(switches, name)) {
                val = "1";
            } else if (i + 1 >= argc) {
                fprintf(stderr, "aisle: --%s needs a value\n", name);
                return 2;
            } else {
                val = argv[++i];
            }
        }
        if (set(ud, name, val) != 0)
            return 2;
    }
    return 0;
}

int flags_pairs(const char *list, double lo, double hi, int (*set)(void *ud, const char *name, double v), void *ud)
{
    char buf[512];
    if (strlen(list) >= sizeof buf)
        return -1;
    memcpy(buf, list, strlen(list) + 1);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '='), *end = NULL;
        if (!eq)
            return -1;
        *eq = '\0';
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || *end || !(v >= lo && v <= hi) || set(ud, tok, v) != 0)
            return -1;
    }
    return 0;
}

int flags_fraction(const char *s, float *out)
{
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end || !(d > 0 && d <= 1))
        return -1;
    *out = (float)d;
    return 0;
}
