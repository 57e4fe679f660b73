/* Time helpers: wall-clock and monotonic milliseconds, RFC 3339 parsing and formatting. */
#ifndef AISLE_TIMEUTIL_H
#define AISLE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* The range of time Aisle reads and writes: 0000-01-01 to 9999-12-31, in seconds. */
#define TIME_MIN_S (-62167219200LL)
#define TIME_MAX_S (253402300799LL)

int64_t time_now_ms(void);
/* Monotonic clock in nanoseconds, for durations. */
uint64_t time_mono_ns(void);
/* Parses "2026-11-25T09:30:00Z", with optional fractional seconds and a numeric offset
 * ("+01:00"); a space may stand for the 'T'. Returns 0 and sets *ms, or -1. */
int time_parse_rfc3339(const char *s, size_t n, int64_t *ms);
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 chars + NUL) into out[32]. */
void time_format_rfc3339(int64_t ms, char out[32]);
/* Parses "500ms", "5s", "10m", "2h", "1d" into milliseconds. -1 on error. */
int time_parse_duration(const char *s, int64_t *ms);

#endif
