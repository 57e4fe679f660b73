/* Command-line flags for the subcommands: `--name value`, `--name=value`, boolean
 * switches, and -h/--help. Each subcommand keeps its own table of what a name means. */
#ifndef AISLE_FLAGS_H
#define AISLE_FLAGS_H

#include <stdio.h>

/* Applies one flag; returns 0, or -1 after printing why not. */
typedef int (*flags_set_fn)(void *ud, const char *name, const char *val);

/* Walks argv. Names in switches (NULL-terminated, may be NULL) take no value and reach
 * set with val "1". Returns 0 to go on, 1 when help was printed (exit 0), 2 on an error
 * (exit 2). cmd names the subcommand in messages. */
int flags_parse(int argc, char **argv, const char *cmd, const char *const *switches, flags_set_fn set, void *ud,
                void (*usage)(FILE *));

/* Parses "name=number,name=number,..." with every number from lo to hi, calling set for
 * each pair in order (set returns -1 for a name it does not know). Returns 0, or -1 at
 * the first bad pair (set has been called for the pairs before it). */
int flags_pairs(const char *list, double lo, double hi, int (*set)(void *ud, const char *name, double v), void *ud);
/* A share in (0, 1] ("0.85"): 0 and *out set, or -1. */
int flags_fraction(const char *s, float *out);

#endif
