/* SPDX-License-Identifier: MIT
 * log.c -- log levels, stderr or syslog, rate-limited warnings.
 * Owns:    the current level and target; nothing else.
 * Never:   any other state. */
#include "config_feat.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"
#include "util.h"

enum log_level log_current_level = LOG_LVL_INFO;
static bool log_to_stderr = true;
static const char *log_ident = "srvshimd";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
log_init(const char *ident, enum log_level level, bool to_stderr)
{
	log_ident = ident;
	log_current_level = level;
	log_to_stderr = to_stderr;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_level(enum log_level level)
{
	log_current_level = level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	return (unsigned)level < ARRAY_SIZE(level_names) ? level_names[level]
							 : "?";
}

static void
vlog(enum log_level level, const char *fmt, va_list ap, const char *suffix)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char msg[2048];

	if (level > log_current_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!log_to_stderr) {
		syslog(prio[level], "%s%s%s", msg, suffix ? ": " : "",
		       suffix ? suffix : "");
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s.%03ldZ %s[%s] %s%s%s\n", stamp,
		ts.tv_nsec / 1000000L, log_ident, level_names[level], msg,
		suffix ? ": " : "", suffix ? suffix : "");
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap, NULL);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	char ebuf[128];
	const char *e = strerror_r(errno, ebuf, sizeof(ebuf));
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_WARN, fmt, ap, e);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_WARN, fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	char ebuf[128];
	const char *e = strerror_r(errno, ebuf, sizeof(ebuf));
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, fmt, ap, e);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

bool
log_ratelimit_ok(struct log_ratelimit *rl, uint64_t *suppressed)
{
	uint64_t now = now_ms();
	if (rl->last_ms != 0 && now - rl->last_ms < rl->interval_ms) {
		rl->suppressed++;
		return false;
	}
	if (suppressed)
		*suppressed = rl->suppressed;
	rl->suppressed = 0;
	rl->last_ms = now;
	return true;
}
