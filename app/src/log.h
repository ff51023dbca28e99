/* One line per event on stdout for journald: "<UTC timestamp> level=<L> event=<E> key=value...". */
#ifndef LDR_LOG_H
#define LDR_LOG_H

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void log_ev(const char *level, const char *event, const char *fmt, ...);

/* Copies s into dst as a quotable log value (double quotes and control characters replaced). */
const char *log_q(char *dst, unsigned long cap, const char *s);

#endif
