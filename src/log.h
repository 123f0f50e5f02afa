/* SPDX-License-Identifier: MIT
 * log.h -- log levels and targets.
 * Grammar: lower case, "room: subject, event (detail)", e.g.
 *   watch: service web, snapshot published, 3 instances, serial 42
 * Nothing above debug is logged per query. */
#ifndef SRVSHIM_LOG_H
#define SRVSHIM_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Sets the level and target (stderr when to_stderr, else syslog). */
void log_init(const char *ident, enum log_level level, bool to_stderr);
void log_set_level(enum log_level level);
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);
extern enum log_level log_current_level;

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* log_warn appends ": strerror(errno)". */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal/fatalx: log and exit(1). Only at startup or for broken invariants. */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#define log_debug(...)                                                      \
	do {                                                                \
		if (log_current_level >= LOG_LVL_DEBUG)                     \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                \
	} while (0)

/* A rate limiter for warnings: at most one message per interval; the count
 * of suppressed ones is reported with the next message that passes. One per
 * call site, owned by the thread that logs through it. */
struct log_ratelimit {
	uint64_t interval_ms;
	uint64_t last_ms;
	uint64_t suppressed;
};
#define LOG_RATELIMIT_INIT(ms) {(ms), 0, 0}
/* Returns true when a message may be logged now; *suppressed (may be NULL)
 * gets the count skipped since the last one that passed. */
bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t *suppressed);

#endif
