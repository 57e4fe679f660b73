/* Structured logging: one logfmt line per message on stderr,
 * `ts=... level=info msg="..." key=value ...`. The level threshold is process-wide,
 * set once at start-up before threads exist. */
#ifndef AISLE_SLOG_H
#define AISLE_SLOG_H

enum { SLOG_DEBUG, SLOG_INFO, SLOG_WARN, SLOG_ERROR };

void slog_set_level(int level);
/* Returns -1 for an unknown name. */
int slog_level_from_name(const char *name);
/* fmt continues the line after msg: pass key=value pairs, e.g. "records=%d". */
void slog(int level, const char *msg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define slog_info(msg, ...) slog(SLOG_INFO, msg, __VA_ARGS__)
#define slog_warn(msg, ...) slog(SLOG_WARN, msg, __VA_ARGS__)
#define slog_error(msg, ...) slog(SLOG_ERROR, msg, __VA_ARGS__)
#define slog_debug(msg, ...) slog(SLOG_DEBUG, msg, __VA_ARGS__)

#endif
