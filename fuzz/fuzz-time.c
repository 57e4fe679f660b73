/* libFuzzer driver: the time parsers.
 *
 * time_parse_rfc3339 on the raw bytes (not NUL-terminated: the parser takes a length);
 * when it accepts, time_format_rfc3339 must write "YYYY-MM-DDTHH:MM:SS.mmmZ" (24
 * characters, as timeutil.h promises) and parsing that again must give the same
 * millisecond value. time_parse_duration gets the same bytes as a C string (up to the
 * first NUL) and must not crash nor give a negative duration. */
#include "util/slog.h"
#include "util/timeutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz-time"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    slog_set_level(SLOG_ERROR + 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy, so that ASan sees any read past the end. */
    char *s = malloc(size ? size : 1);
    if (size)
        memcpy(s, data, size);
    int64_t ms;
    if (time_parse_rfc3339(s, size, &ms) == 0) {
        char out[32];
        memset(out, 'X', sizeof out);
        time_format_rfc3339(ms, out);
        size_t n = strnlen(out, sizeof out);
        CHECK(n < sizeof out);
        if (n != 24) {
            fprintf(stderr, "fuzz-time: %.*s parsed to %lld ms, formatted as \"%s\" (%zu chars, want 24)\n",
                    (int)size, s, (long long)ms, out, n);
            abort();
        }
        int64_t back;
        if (time_parse_rfc3339(out, n, &back) != 0 || back != ms) {
            fprintf(stderr, "fuzz-time: %.*s -> %lld ms -> \"%s\" does not parse back to the same value\n",
                    (int)size, s, (long long)ms, out);
            abort();
        }
    }
    free(s);

    /* time_parse_duration wants a C string. */
    char *z = malloc(size + 1);
    memcpy(z, data, size);
    z[size] = '\0';
    if (time_parse_duration(z, &ms) == 0)
        CHECK(ms >= 0);
    free(z);
    return 0;
}
