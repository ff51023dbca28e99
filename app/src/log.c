#define _POSIX_C_SOURCE 200809L
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

void log_ev(const char *level, const char *event, const char *fmt, ...) {
  char line[1024];
  struct timespec ts;
  struct tm tm;
  size_t n;
  int k;
  va_list ap;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
  k = snprintf(line + n, sizeof line - n, ".%03ldZ level=%s event=%s ", ts.tv_nsec / 1000000L, level, event);
  if (k > 0) n += (size_t)k;
  va_start(ap, fmt);
  k = vsnprintf(line + n, sizeof line - n, fmt, ap);
  va_end(ap);
  if (k > 0) n += (size_t)k;
  if (n > sizeof line - 2) n = sizeof line - 2;
  line[n++] = '\n';
  /* One write() per line keeps lines from different threads whole. */
  if (write(STDOUT_FILENO, line, n) < 0) return;
}

const char *log_q(char *dst, unsigned long cap, const char *s) {
  unsigned long i = 0;
  for (; s && *s && i + 1 < cap; s++) dst[i++] = (*s == '"' || (unsigned char)*s < 0x20) ? '\'' : *s;
  dst[i] = 0;
  return dst;
}
