/* linode-dr-lab-wan: the lab router's WAN. The router sends every packet that crosses from one site
 * to another through a TUN device; this program reads each one, drops it with the link's loss
 * probability or holds it for the link's delay and jitter, and writes it back into the device, from
 * where the router forwards it to its destination. The kernels here have no sch_netem, so this is
 * netem's job done in user space (one queue per direction of each link, never reordered).
 *
 * Bounded: a fixed pool of packet slots (a full pool drops the packet, as a router's full queue
 * would); nothing else is allocated after start. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "wan.h"

#define SLOTS 8192
#define SLOT_BYTES 2048
#define READS_PER_WAKE 256
#define NO_SLOT (-1)

typedef struct {
  int64_t release_ns;
  int next;
  uint16_t len;
  unsigned char data[SLOT_BYTES];
} slot;

typedef struct {
  int head, tail;
} fifo;

static slot slots[SLOTS];
static int free_head;
static fifo queues[WAN_MAX_REGIONS][WAN_MAX_REGIONS];
static wan_config cfg;
static uint64_t passed, malformed, write_errors;
static volatile sig_atomic_t stop_requested, stats_requested;

static void on_signal(int sig) {
  if (sig == SIGUSR1)
    stats_requested = 1;
  else
    stop_requested = 1;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: linode-dr-lab-wan --tun NAME --region NAME=a.b.c.d/len... --link X-Y=DELAY_MS,JITTER_MS,LOSS_PERCENT... "
          "[--seed N]\n"
          "Holds each packet crossing a link for DELAY_MS +/- JITTER_MS (one way, uniform, never reordered) and loses "
          "LOSS_PERCENT of them, in both directions; packets between undeclared pairs pass at once.\n");
}

static int open_tun(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "wan: cannot open /dev/net/tun: %s\n", strerror(errno));
    return -1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    fprintf(stderr, "wan: cannot attach to TUN device %s: %s\n", name, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

static void print_stats(void) {
  for (size_t a = 0; a < cfg.nregions; a++)
    for (size_t b = 0; b < cfg.nregions; b++) {
      if (!cfg.configured[a][b]) continue;
      const wan_link *l = &cfg.links[a][b];
      fprintf(stderr, "wan: %s->%s forwarded=%llu lost=%llu overflowed=%llu\n", cfg.regions[a].name,
              cfg.regions[b].name, (unsigned long long)l->forwarded, (unsigned long long)l->lost,
              (unsigned long long)l->overflowed);
    }
  fprintf(stderr, "wan: passed=%llu malformed=%llu write_errors=%llu\n", (unsigned long long)passed,
          (unsigned long long)malformed, (unsigned long long)write_errors);
}

static void send_on(int fd, const unsigned char *data, size_t len) {
  if (write(fd, data, len) != (ssize_t)len) write_errors++;
}

/* Takes one packet from the device: passes it, loses it, or queues it on its link. */
static void take(int fd, const unsigned char *data, size_t len, int64_t now, wan_rng *rng) {
  uint32_t src, dst;
  if (wan_ipv4_addresses(data, len, &src, &dst) < 0) {
    malformed++;
    return;
  }
  int a = wan_region_of(&cfg, src), b = wan_region_of(&cfg, dst);
  if (a < 0 || b < 0 || !cfg.configured[a][b]) {
    passed++;
    send_on(fd, data, len);
    return;
  }
  wan_link *link = &cfg.links[a][b];
  if (free_head == NO_SLOT) {
    link->overflowed++;
    return;
  }
  int64_t release;
  if (wan_schedule(link, now, rng, &release) < 0) return;
  int i = free_head;
  free_head = slots[i].next;
  slots[i].release_ns = release;
  slots[i].next = NO_SLOT;
  slots[i].len = (uint16_t)len;
  memcpy(slots[i].data, data, len);
  fifo *q = &queues[a][b];
  if (q->tail == NO_SLOT)
    q->head = i;
  else
    slots[q->tail].next = i;
  q->tail = i;
}

/* Sends every queued packet whose time has come; returns when the next one is due (INT64_MAX: none). */
static int64_t release_due(int fd, int64_t now) {
  int64_t next = INT64_MAX;
  for (size_t a = 0; a < cfg.nregions; a++)
    for (size_t b = 0; b < cfg.nregions; b++) {
      fifo *q = &queues[a][b];
      while (q->head != NO_SLOT && slots[q->head].release_ns <= now) {
        int i = q->head;
        send_on(fd, slots[i].data, slots[i].len);
        cfg.links[a][b].forwarded++;
        q->head = slots[i].next;
        if (q->head == NO_SLOT) q->tail = NO_SLOT;
        slots[i].next = free_head;
        free_head = i;
      }
      if (q->head != NO_SLOT && slots[q->head].release_ns < next) next = slots[q->head].release_ns;
    }
  return next;
}

static int parse_args(int argc, char **argv, const char **tun, uint64_t *seed, int *seeded) {
  char err[256];
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i];
    if (!strcmp(opt, "--help")) {
      usage(stdout);
      exit(0);
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "wan: %s needs a value\n", opt);
      return -1;
    }
    const char *val = argv[++i];
    if (!strcmp(opt, "--tun")) {
      if (strlen(val) == 0 || strlen(val) >= IFNAMSIZ) {
        fprintf(stderr, "wan: --tun \"%s\": a device name of 1-%d characters\n", val, IFNAMSIZ - 1);
        return -1;
      }
      *tun = val;
    } else if (!strcmp(opt, "--region")) {
      if (wan_add_region(&cfg, val, err, sizeof err) < 0) {
        fprintf(stderr, "wan: %s\n", err);
        return -1;
      }
    } else if (!strcmp(opt, "--link")) {
      if (wan_add_link(&cfg, val, err, sizeof err) < 0) {
        fprintf(stderr, "wan: %s\n", err);
        return -1;
      }
    } else if (!strcmp(opt, "--seed")) {
      char *end;
      errno = 0;
      unsigned long long v = strtoull(val, &end, 10);
      if (errno || end == val || *end || val[0] == '-') {
        fprintf(stderr, "wan: --seed \"%s\": a non-negative integer\n", val);
        return -1;
      }
      *seed = v;
      *seeded = 1;
    } else {
      fprintf(stderr, "wan: unknown option \"%s\"\n", opt);
      return -1;
    }
  }
  if (!*tun) {
    fprintf(stderr, "wan: --tun is required\n");
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *tun = NULL;
  uint64_t seed = 0;
  int seeded = 0;
  if (parse_args(argc, argv, &tun, &seed, &seeded) < 0) {
    usage(stderr);
    return 2;
  }
  if (!seeded) seed = (uint64_t)now_ns() ^ (uint64_t)getpid();
  wan_rng rng = {seed};

  for (int i = 0; i < SLOTS; i++) slots[i].next = i + 1 < SLOTS ? i + 1 : NO_SLOT;
  free_head = 0;
  for (size_t a = 0; a < WAN_MAX_REGIONS; a++)
    for (size_t b = 0; b < WAN_MAX_REGIONS; b++) queues[a][b] = (fifo){NO_SLOT, NO_SLOT};

  int fd = open_tun(tun);
  if (fd < 0) return 1;

  sigset_t blocked, during_wait;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGUSR1);
  sigprocmask(SIG_BLOCK, &blocked, &during_wait);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);

  fprintf(stderr, "wan: forwarding on %s (seed %llu):", tun, (unsigned long long)seed);
  for (size_t a = 0; a < cfg.nregions; a++)
    for (size_t b = a + 1; b < cfg.nregions; b++)
      if (cfg.configured[a][b])
        fprintf(stderr, " %s-%s %.3f ms +/- %.3f ms, %.4f%% lost;", cfg.regions[a].name, cfg.regions[b].name,
                (double)cfg.links[a][b].delay_ns / 1e6, (double)cfg.links[a][b].jitter_ns / 1e6,
                (double)cfg.links[a][b].loss_ppm / 1e4);
  fprintf(stderr, "\n");

  static unsigned char buf[SLOT_BYTES];
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  while (!stop_requested) {
    if (stats_requested) {
      stats_requested = 0;
      print_stats();
    }
    int64_t now = now_ns();
    int64_t next = release_due(fd, now);
    struct timespec wait, *waitp = NULL;
    if (next != INT64_MAX) {
      int64_t d = next - now_ns();
      if (d < 0) d = 0;
      wait.tv_sec = (time_t)(d / 1000000000);
      wait.tv_nsec = (long)(d % 1000000000);
      waitp = &wait;
    }
    int r = ppoll(&pfd, 1, waitp, &during_wait);
    if (r < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "wan: poll: %s\n", strerror(errno));
      close(fd);
      return 1;
    }
    if (r == 0 || !(pfd.revents & POLLIN)) continue;
    for (int n = 0; n < READS_PER_WAKE; n++) {
      ssize_t got = read(fd, buf, sizeof buf);
      if (got < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        fprintf(stderr, "wan: read: %s\n", strerror(errno));
        close(fd);
        return 1;
      }
      take(fd, buf, (size_t)got, now_ns(), &rng);
    }
  }
  print_stats();
  close(fd);
  return 0;
}
