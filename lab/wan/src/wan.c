#include "wan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

static int valid_name(const char *s, size_t n) {
  if (n == 0 || n >= WAN_NAME_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  return 1;
}

static int find_region(const wan_config *cfg, const char *name, size_t n) {
  for (size_t i = 0; i < cfg->nregions; i++)
    if (strlen(cfg->regions[i].name) == n && memcmp(cfg->regions[i].name, name, n) == 0) return (int)i;
  return -1;
}

int wan_add_region(wan_config *cfg, const char *spec, char *err, size_t errlen) {
  const char *eq = strchr(spec, '=');
  const char *slash = eq ? strchr(eq, '/') : NULL;
  if (!eq || !slash)
    return fail(err, errlen, "--region \"%s\": expected NAME=a.b.c.d/len, for example A=198.51.100.0/24", spec);
  size_t n = (size_t)(eq - spec);
  if (!valid_name(spec, n))
    return fail(err, errlen, "--region \"%s\": the name must be 1-%d letters, digits or _", spec, WAN_NAME_MAX - 1);
  if (find_region(cfg, spec, n) >= 0) return fail(err, errlen, "--region \"%s\": region named twice", spec);
  if (cfg->nregions == WAN_MAX_REGIONS)
    return fail(err, errlen, "--region \"%s\": at most %d regions", spec, WAN_MAX_REGIONS);
  char addr[INET_ADDRSTRLEN];
  size_t alen = (size_t)(slash - eq - 1);
  if (alen == 0 || alen >= sizeof addr)
    return fail(err, errlen, "--region \"%s\": \"%.*s\" is not an IPv4 address", spec, (int)alen, eq + 1);
  memcpy(addr, eq + 1, alen);
  addr[alen] = '\0';
  struct in_addr in;
  if (inet_pton(AF_INET, addr, &in) != 1)
    return fail(err, errlen, "--region \"%s\": \"%s\" is not an IPv4 address", spec, addr);
  char *end;
  errno = 0;
  long len = strtol(slash + 1, &end, 10);
  if (errno || end == slash + 1 || *end || len < 1 || len > 32)
    return fail(err, errlen, "--region \"%s\": the prefix length must be 1-32", spec);
  uint32_t mask = (uint32_t)(0xffffffffu << (32 - len));
  uint32_t network = ntohl(in.s_addr);
  if (network & ~mask)
    return fail(err, errlen, "--region \"%s\": %s has host bits set for /%ld", spec, addr, len);
  for (size_t i = 0; i < cfg->nregions; i++) {
    const wan_region *r = &cfg->regions[i];
    uint32_t common = r->mask & mask;
    if ((r->network & common) == (network & common))
      return fail(err, errlen, "--region \"%s\": overlaps region %s", spec, r->name);
  }
  wan_region *r = &cfg->regions[cfg->nregions++];
  memcpy(r->name, spec, n);
  r->name[n] = '\0';
  r->network = network;
  r->mask = mask;
  return 0;
}

/* Reads one non-negative decimal number up to `stop` (or the end); returns the position after. */
static const char *number(const char *s, char stop, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !isfinite(v) || v < 0) return NULL;
  if (*end != stop) return NULL;
  *out = v;
  return stop ? end + 1 : end;
}

int wan_add_link(wan_config *cfg, const char *spec, char *err, size_t errlen) {
  const char *dash = strchr(spec, '-');
  const char *eq = dash ? strchr(dash, '=') : NULL;
  if (!dash || !eq)
    return fail(err, errlen,
                "--link \"%s\": expected X-Y=DELAY_MS,JITTER_MS,LOSS_PERCENT (one way, both directions), for "
                "example A-B=25,2,0.1",
                spec);
  int a = find_region(cfg, spec, (size_t)(dash - spec));
  int b = find_region(cfg, dash + 1, (size_t)(eq - dash - 1));
  if (a < 0 || b < 0)
    return fail(err, errlen, "--link \"%s\": both ends must be regions declared with --region before it", spec);
  if (a == b) return fail(err, errlen, "--link \"%s\": a link joins two different regions", spec);
  if (cfg->configured[a][b]) return fail(err, errlen, "--link \"%s\": link declared twice", spec);
  double delay, jitter, loss;
  const char *p = number(eq + 1, ',', &delay);
  p = p ? number(p, ',', &jitter) : NULL;
  p = p ? number(p, '\0', &loss) : NULL;
  if (!p)
    return fail(err, errlen, "--link \"%s\": DELAY_MS,JITTER_MS,LOSS_PERCENT must be three non-negative numbers",
                spec);
  if (delay > WAN_MAX_DELAY_MS)
    return fail(err, errlen, "--link \"%s\": delay %g ms is over %g ms", spec, delay, WAN_MAX_DELAY_MS);
  if (jitter > delay)
    return fail(err, errlen, "--link \"%s\": jitter %g ms is over the delay %g ms (a packet cannot arrive early)",
                spec, jitter, delay);
  if (loss > WAN_MAX_LOSS_PERCENT)
    return fail(err, errlen, "--link \"%s\": loss %g%% is over %g%%", spec, loss, WAN_MAX_LOSS_PERCENT);
  wan_link link = {
      .delay_ns = (int64_t)llround(delay * 1e6),
      .jitter_ns = (int64_t)llround(jitter * 1e6),
      .loss_ppm = (uint32_t)lround(loss * 1e4),
  };
  cfg->links[a][b] = link;
  cfg->links[b][a] = link;
  cfg->configured[a][b] = cfg->configured[b][a] = 1;
  return 0;
}

int wan_region_of(const wan_config *cfg, uint32_t addr) {
  for (size_t i = 0; i < cfg->nregions; i++)
    if ((addr & cfg->regions[i].mask) == cfg->regions[i].network) return (int)i;
  return -1;
}

int wan_ipv4_addresses(const unsigned char *packet, size_t len, uint32_t *src, uint32_t *dst) {
  if (len < 20 || (packet[0] >> 4) != 4 || (size_t)(packet[0] & 0x0f) * 4 < 20) return -1;
  *src = (uint32_t)packet[12] << 24 | (uint32_t)packet[13] << 16 | (uint32_t)packet[14] << 8 | packet[15];
  *dst = (uint32_t)packet[16] << 24 | (uint32_t)packet[17] << 16 | (uint32_t)packet[18] << 8 | packet[19];
  return 0;
}

uint64_t wan_rng_next(wan_rng *rng) {
  /* splitmix64 */
  uint64_t z = (rng->state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

int wan_schedule(wan_link *link, int64_t now_ns, wan_rng *rng, int64_t *release_ns) {
  if (link->loss_ppm && wan_rng_next(rng) % 1000000u < link->loss_ppm) {
    link->lost++;
    return -1;
  }
  int64_t delay = link->delay_ns;
  if (link->jitter_ns > 0) {
    uint64_t span = (uint64_t)link->jitter_ns * 2 + 1;
    delay += (int64_t)(wan_rng_next(rng) % span) - link->jitter_ns;
  }
  int64_t at = now_ns + delay;
  /* A real path keeps a flow's packets in order; reordering them here would make TCP retransmit
   * for a reason no WAN between two regions gives it. */
  if (at < link->last_release_ns) at = link->last_release_ns;
  link->last_release_ns = at;
  *release_ns = at;
  return 0;
}
