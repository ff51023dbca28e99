/* Unit tests of the WAN's pure parts: what a user types, what a packet is, what a link does to it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wan.h"

static int failures;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      failures++;                                          \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fprintf(stderr, "\n");                               \
    }                                                      \
  } while (0)

static wan_config three_regions(void) {
  wan_config cfg;
  memset(&cfg, 0, sizeof cfg);
  char err[256];
  const char *specs[] = {"A=198.51.100.0/24", "B=203.0.113.0/24", "C=192.0.2.0/24"};
  for (size_t i = 0; i < 3; i++)
    if (wan_add_region(&cfg, specs[i], err, sizeof err) < 0) {
      fprintf(stderr, "setup: %s\n", err);
      exit(1);
    }
  return cfg;
}

static void expect_region_error(const char *spec, const char *words) {
  wan_config cfg = three_regions();
  char err[256] = "";
  int rc = wan_add_region(&cfg, spec, err, sizeof err);
  CHECK(rc == -1, "region \"%s\" accepted", spec);
  CHECK(strstr(err, words) != NULL, "region \"%s\": error \"%s\" lacks \"%s\"", spec, err, words);
  CHECK(strstr(err, spec) != NULL, "region \"%s\": error \"%s\" does not name the input", spec, err);
}

static void expect_link_error(const char *spec, const char *words) {
  wan_config cfg = three_regions();
  char err[256] = "";
  int rc = wan_add_link(&cfg, "A-C=10,1,0", err, sizeof err);
  CHECK(rc == 0, "setup link refused: %s", err);
  rc = wan_add_link(&cfg, spec, err, sizeof err);
  CHECK(rc == -1, "link \"%s\" accepted", spec);
  CHECK(strstr(err, words) != NULL, "link \"%s\": error \"%s\" lacks \"%s\"", spec, err, words);
  CHECK(strstr(err, spec) != NULL, "link \"%s\": error \"%s\" does not name the input", spec, err);
}

static void test_bad_input_is_named(void) {
  expect_region_error("A198.51.100.0/24", "expected NAME=a.b.c.d/len");
  expect_region_error("D=198.51.100.0", "expected NAME=a.b.c.d/len");
  expect_region_error("A=10.0.0.0/8", "region named twice");
  expect_region_error("D=198.51.100.0/25", "overlaps region A");
  expect_region_error("D=198.51.0.0/16", "overlaps region A");
  expect_region_error("D=203.0.113.7/24", "host bits set");
  expect_region_error("D=203.0.114.0/33", "prefix length must be 1-32");
  expect_region_error("D=300.0.114.0/24", "not an IPv4 address");
  expect_region_error("D-x=203.0.114.0/24", "letters, digits or _");

  expect_link_error("A-B", "expected X-Y=DELAY_MS,JITTER_MS,LOSS_PERCENT");
  expect_link_error("A-D=1,0,0", "declared with --region");
  expect_link_error("A-A=1,0,0", "two different regions");
  expect_link_error("C-A=1,0,0", "declared twice");
  expect_link_error("A-B=25,2", "three non-negative numbers");
  expect_link_error("A-B=25,2,0.1,9", "three non-negative numbers");
  expect_link_error("A-B=-1,0,0", "three non-negative numbers");
  expect_link_error("A-B=25ms,2,0", "three non-negative numbers");
  expect_link_error("A-B=nan,0,0", "three non-negative numbers");
  expect_link_error("A-B=2500,0,0", "over 2000 ms");
  expect_link_error("A-B=10,11,0", "over the delay");
  expect_link_error("A-B=25,2,60", "over 50%");
}

static void test_links_are_symmetric_and_classify(void) {
  wan_config cfg = three_regions();
  char err[256];
  CHECK(wan_add_link(&cfg, "A-B=24.5,2,0.1", err, sizeof err) == 0, "%s", err);
  CHECK(cfg.configured[0][1] && cfg.configured[1][0], "A-B is not configured both ways");
  CHECK(!cfg.configured[0][2] && !cfg.configured[2][1], "an undeclared pair is configured");
  CHECK(cfg.links[1][0].delay_ns == 24500000, "delay %lld", (long long)cfg.links[1][0].delay_ns);
  CHECK(cfg.links[0][1].jitter_ns == 2000000, "jitter %lld", (long long)cfg.links[0][1].jitter_ns);
  CHECK(cfg.links[0][1].loss_ppm == 1000, "loss %u ppm", cfg.links[0][1].loss_ppm);
  CHECK(wan_region_of(&cfg, 0xC6336405u) == 0, "198.51.100.5 is not in A");
  CHECK(wan_region_of(&cfg, 0xCB00710Au) == 1, "203.0.113.10 is not in B");
  CHECK(wan_region_of(&cfg, 0xC0000228u) == 2, "192.0.2.40 is not in C");
  CHECK(wan_region_of(&cfg, 0x0A000001u) == -1, "10.0.0.1 is in a region");
}

static void test_ipv4_addresses(void) {
  unsigned char p[40];
  memset(p, 0, sizeof p);
  p[0] = 0x45;
  p[12] = 198, p[13] = 51, p[14] = 100, p[15] = 10;
  p[16] = 203, p[17] = 0, p[18] = 113, p[19] = 10;
  uint32_t src, dst;
  CHECK(wan_ipv4_addresses(p, sizeof p, &src, &dst) == 0, "an IPv4 packet refused");
  CHECK(src == 0xC633640Au && dst == 0xCB00710Au, "addresses %08x %08x", src, dst);
  CHECK(wan_ipv4_addresses(p, 19, &src, &dst) == -1, "a truncated header accepted");
  p[0] = 0x60;
  CHECK(wan_ipv4_addresses(p, sizeof p, &src, &dst) == -1, "an IPv6 packet accepted");
  p[0] = 0x44;
  CHECK(wan_ipv4_addresses(p, sizeof p, &src, &dst) == -1, "a header length under 20 accepted");
}

static void test_delay_jitter_order(void) {
  wan_link link = {.delay_ns = 25000000, .jitter_ns = 2000000};
  wan_rng rng = {42};
  int64_t prev = 0, min = INT64_MAX, max = 0;
  double sum = 0;
  const int n = 100000;
  int reordered = 0;
  for (int i = 0; i < n; i++) {
    /* one packet every 10 ms: far enough apart that order never constrains the jitter */
    int64_t now = (int64_t)i * 10000000, at;
    CHECK(wan_schedule(&link, now, &rng, &at) == 0, "a packet lost on a lossless link");
    int64_t d = at - now;
    if (d < min) min = d;
    if (d > max) max = d;
    sum += (double)d;
    if (at < prev) reordered++;
    prev = at;
  }
  CHECK(min >= 23000000 && max <= 27000000, "delay outside 25 +/- 2 ms: %lld..%lld", (long long)min,
        (long long)max);
  CHECK(min < 23100000 && max > 26900000, "jitter does not span its range: %lld..%lld", (long long)min,
        (long long)max);
  CHECK(fabs(sum / n - 25e6) < 0.05e6, "mean delay %.0f ns, expected 25 ms", sum / n);
  CHECK(reordered == 0, "%d packets overtook the one ahead", reordered);

  /* Back to back, jitter would reorder; the link keeps order instead. */
  wan_link burst = {.delay_ns = 25000000, .jitter_ns = 2000000};
  prev = 0;
  reordered = 0;
  for (int i = 0; i < 1000; i++) {
    int64_t at;
    wan_schedule(&burst, (int64_t)i * 1000, &rng, &at);
    if (at < prev) reordered++;
    CHECK(at >= (int64_t)i * 1000 + 23000000, "a packet left early");
    prev = at;
  }
  CHECK(reordered == 0, "%d packets of a burst overtook the one ahead", reordered);
}

static void test_loss_rate(void) {
  wan_link link = {.delay_ns = 1000000, .loss_ppm = 20000}; /* 2 % */
  wan_rng rng = {7};
  const int n = 200000;
  int lost = 0;
  for (int i = 0; i < n; i++) {
    int64_t at;
    if (wan_schedule(&link, i, &rng, &at) < 0) lost++;
  }
  double rate = (double)lost / n;
  CHECK(rate > 0.018 && rate < 0.022, "lost %.4f of packets, expected 0.02", rate);
  CHECK(link.lost == (uint64_t)lost, "the link counted %llu losses, saw %d", (unsigned long long)link.lost, lost);

  wan_link clean = {.delay_ns = 1000000};
  for (int i = 0; i < n; i++) {
    int64_t at;
    CHECK(wan_schedule(&clean, i, &rng, &at) == 0, "a packet lost at 0 %% loss");
  }
}

static void test_same_seed_same_fate(void) {
  wan_link a = {.delay_ns = 5000000, .jitter_ns = 1000000, .loss_ppm = 100000};
  wan_link b = a;
  wan_rng ra = {99}, rb = {99};
  for (int i = 0; i < 1000; i++) {
    int64_t x = -1, y = -1;
    int fa = wan_schedule(&a, (int64_t)i * 5000000, &ra, &x);
    int fb = wan_schedule(&b, (int64_t)i * 5000000, &rb, &y);
    CHECK(fa == fb && x == y, "packet %d: seeds agree but fates differ", i);
  }
}

int main(void) {
  test_bad_input_is_named();
  test_links_are_symmetric_and_classify();
  test_ipv4_addresses();
  test_delay_jitter_order();
  test_loss_rate();
  test_same_seed_same_fate();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("wan unit tests: all passed\n");
  return 0;
}
