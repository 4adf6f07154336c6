/* clockstep: the clock nemesis's helper on real hosts (nemeses/clock.cc). Faultline embeds this
 * file byte for byte, uploads it to each node and compiles it there with gcc, as it does the
 * packet nemesis's delayer; it is never compiled into faultline itself.
 *
 * Usage:
 *   clockstep [-n] bump DELTA_MS
 *       steps the system clock (CLOCK_REALTIME) by DELTA_MS (may be negative, fractional).
 *       Prints "bumped DELTA_MS".
 *   clockstep [-n] strobe DELTA_MS PERIOD_MS DURATION_MS
 *       for DURATION_MS, every PERIOD_MS, flips the clock between where it is and DELTA_MS
 *       ahead of that; ends where it began (plus the real time elapsed). The time it began
 *       from is kept against CLOCK_MONOTONIC, so the flips do not drift however long the
 *       system calls take. SIGINT, SIGTERM, SIGHUP end the strobe early, and still restore
 *       the clock. Prints "strobed FLIPS".
 *   -n  dry run: prints "set OFFSET_NS" for each step it would make (the step's offset from
 *       the clock as it was when the command began) instead of making it.
 * Exit: 0 done; 1 a clock call failed (the reason on stderr; for strobe, the clock is put back
 * first where possible); 2 usage.
 * Needs CAP_SYS_TIME (root), except with -n. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_requested = 0;
static int dry_run = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static long long ns_of(struct timespec t) {
  return (long long)t.tv_sec * 1000000000LL + (long long)t.tv_nsec;
}

static struct timespec timespec_of(long long ns) {
  struct timespec t;
  long long s = ns / 1000000000LL, r = ns % 1000000000LL;
  if (r < 0) {
    r += 1000000000LL;
    s -= 1;
  }
  t.tv_sec = (time_t)s;
  t.tv_nsec = (long)r;
  return t;
}

static long long now_ns(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return ns_of(t);
}

/* Sets the real-time clock to `target_ns`; `offset_ns` is what that is as an offset from the
 * clock when the command began (what a dry run prints). */
static int set_realtime(long long target_ns, long long offset_ns) {
  if (dry_run) {
    printf("set %lld\n", offset_ns);
    return 0;
  }
  struct timespec t = timespec_of(target_ns);
  if (clock_settime(CLOCK_REALTIME, &t) != 0) {
    fprintf(stderr, "clockstep: clock_settime: %s\n", strerror(errno));
    return -1;
  }
  return 0;
}

/* Milliseconds (finite, |x| <= 10 days) as nanoseconds; 0 on success. */
static int parse_ms(const char* text, long long* ns) {
  char* end = NULL;
  errno = 0;
  double ms = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !isfinite(ms) || fabs(ms) > 864000000.0) {
    fprintf(stderr, "clockstep: not a number of milliseconds: '%s'\n", text);
    return -1;
  }
  *ns = llround(ms * 1e6);
  return 0;
}

static int usage(void) {
  fprintf(stderr,
          "usage: clockstep [-n] bump DELTA_MS\n"
          "       clockstep [-n] strobe DELTA_MS PERIOD_MS DURATION_MS\n");
  return 2;
}

static int bump(long long delta_ns) {
  if (set_realtime(now_ns(CLOCK_REALTIME) + delta_ns, delta_ns) != 0) return 1;
  printf("bumped %.3f\n", (double)delta_ns / 1e6);
  return 0;
}

static int strobe(long long delta_ns, long long period_ns, long long duration_ns) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: the sleep ends at once */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN); /* a closed session must not stop us before the clock is back */
  /* Where the clock began, as an offset from the monotonic clock, which no step moves. */
  const long long base = now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC);
  const long long start = now_ns(CLOCK_MONOTONIC), end = start + duration_ns;
  long long next = start, flips = 0;
  int up = 0, rc = 0;
  while (!stop_requested && next < end) {
    up = !up;
    long long offset = up ? delta_ns : 0;
    if (set_realtime(now_ns(CLOCK_MONOTONIC) + base + offset, offset) != 0) {
      rc = 1;
      break;
    }
    ++flips;
    next += period_ns;
    struct timespec wake = timespec_of(next < end ? next : end);
    while (!stop_requested &&
           clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, NULL) == EINTR) {
    }
  }
  if (up && set_realtime(now_ns(CLOCK_MONOTONIC) + base, 0) != 0) rc = 1;
  printf("strobed %lld\n", flips);
  return rc;
}

int main(int argc, char** argv) {
  int i = 1;
  if (i < argc && strcmp(argv[i], "-n") == 0) {
    dry_run = 1;
    ++i;
  }
  if (i >= argc) return usage();
  const char* what = argv[i++];
  long long v[3];
  int want = strcmp(what, "bump") == 0 ? 1 : strcmp(what, "strobe") == 0 ? 3 : 0;
  if (want == 0 || argc - i != want) return usage();
  for (int k = 0; k < want; ++k) {
    if (parse_ms(argv[i + k], &v[k]) != 0) return 2;
  }
  if (want == 1) return bump(v[0]);
  if (v[1] <= 0 || v[2] < 0) {
    fprintf(stderr, "clockstep: strobe needs PERIOD_MS > 0 and DURATION_MS >= 0\n");
    return 2;
  }
  return strobe(v[0], v[1], v[2]);
}
