/* The lab's WAN: what a link between two sites does to a packet (delay, jitter, loss), as pure
 * functions the packet loop and the unit tests share. IPv4 only: the lab disables IPv6 on every
 * link. */
#ifndef WAN_H
#define WAN_H

#include <stddef.h>
#include <stdint.h>

#define WAN_MAX_REGIONS 8
#define WAN_NAME_MAX 16
/* Bounds a link's parameters to what a WAN between two cloud regions can be, so a typo (a delay
 * in microseconds, a loss of 50) is refused instead of producing a lab nobody meant. */
#define WAN_MAX_DELAY_MS 2000.0
#define WAN_MAX_LOSS_PERCENT 50.0

typedef struct {
  char name[WAN_NAME_MAX];
  uint32_t network; /* host byte order */
  uint32_t mask;
} wan_region;

/* One direction of a link between two regions. */
typedef struct {
  int64_t delay_ns;
  int64_t jitter_ns;   /* each packet's delay is uniform in [delay - jitter, delay + jitter] */
  uint32_t loss_ppm;   /* packets lost per million */
  int64_t last_release_ns; /* no packet leaves before the one ahead of it on the same link */
  uint64_t forwarded, lost, overflowed;
} wan_link;

typedef struct {
  wan_region regions[WAN_MAX_REGIONS];
  size_t nregions;
  /* links[from][to]; configured[from][to] is 0 where no link was declared (sent on at once). */
  wan_link links[WAN_MAX_REGIONS][WAN_MAX_REGIONS];
  int configured[WAN_MAX_REGIONS][WAN_MAX_REGIONS];
} wan_config;

/* Parses "NAME=a.b.c.d/len" into the config. On error returns -1 with a sentence in err. */
int wan_add_region(wan_config *cfg, const char *spec, char *err, size_t errlen);

/* Parses "X-Y=DELAY_MS,JITTER_MS,LOSS_PERCENT" (one-way, both directions) into the config. */
int wan_add_link(wan_config *cfg, const char *spec, char *err, size_t errlen);

/* The region an IPv4 address (host byte order) belongs to, or -1. */
int wan_region_of(const wan_config *cfg, uint32_t addr);

/* Reads the source and destination of an IPv4 packet. Returns -1 for anything else. */
int wan_ipv4_addresses(const unsigned char *packet, size_t len, uint32_t *src, uint32_t *dst);

/* A small, seedable generator: the lab's losses and jitter are reproducible from --seed. */
typedef struct {
  uint64_t state;
} wan_rng;

uint64_t wan_rng_next(wan_rng *rng);

/* Decides one packet's fate on a link: returns 0 and its release time, or -1 when it is lost.
 * Keeps the link's order: jitter never lets a packet overtake the one ahead of it. */
int wan_schedule(wan_link *link, int64_t now_ns, wan_rng *rng, int64_t *release_ns);

#endif
