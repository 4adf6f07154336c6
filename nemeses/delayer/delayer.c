/* Faultline NFQUEUE delayer: holds each queued packet DELAY_MS +/- JITTER_MS, FIFO. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#define MAXQ 65536
struct item { uint32_t id; long long due; };
static struct item q[MAXQ]; static int qh = 0, qt = 0, qn = 0;
static long long delay_us, jitter_us; static volatile sig_atomic_t stop = 0;
static long long now_us(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000; }
static void onsig(int s) { (void)s; stop = 1; }
static int cb(struct nfq_q_handle *qh_, struct nfgenmsg *m, struct nfq_data *d, void *data) {
  (void)m; (void)data;
  uint32_t id = ntohl(nfq_get_msg_packet_hdr(d)->packet_id);
  if (qn == MAXQ) return nfq_set_verdict(qh_, id, NF_ACCEPT, 0, NULL);
  long long j = jitter_us ? (random() % (2 * jitter_us + 1)) - jitter_us : 0;
  long long due = now_us() + delay_us + j;
  if (qn && due < q[(qt + MAXQ - 1) % MAXQ].due) due = q[(qt + MAXQ - 1) % MAXQ].due;
  q[qt].id = id; q[qt].due = due; qt = (qt + 1) % MAXQ; qn++; return 0;
}
int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s QUEUE DELAY_MS [JITTER_MS]\n", argv[0]); return 2; }
  int qnum = atoi(argv[1]); delay_us = atoll(argv[2]) * 1000; jitter_us = argc > 3 ? atoll(argv[3]) * 1000 : 0;
  signal(SIGTERM, onsig); signal(SIGINT, onsig);
  struct nfq_handle *h = nfq_open(); if (!h) { perror("nfq_open"); return 1; }
  struct nfq_q_handle *qhd = nfq_create_queue(h, qnum, &cb, NULL); if (!qhd) { perror("nfq_create_queue"); return 1; }
  nfq_set_mode(qhd, NFQNL_COPY_META, 0); nfq_set_queue_maxlen(qhd, 65536);
  int fd = nfq_fd(h); static char buf[65536];
  while (!stop) {
    long long t = now_us(); int timeout = 50;
    while (qn && q[qh].due <= t) { nfq_set_verdict(qhd, q[qh].id, NF_ACCEPT, 0, NULL); qh = (qh + 1) % MAXQ; qn--; }
    if (qn) { long long w = (q[qh].due - t) / 1000; timeout = w < 0 ? 0 : (w > 50 ? 50 : (int)w); }
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, timeout) > 0) { int r = recv(fd, buf, sizeof buf, 0); if (r > 0) nfq_handle_packet(h, buf, r); }
  }
  while (qn) { nfq_set_verdict(qhd, q[qh].id, NF_ACCEPT, 0, NULL); qh = (qh + 1) % MAXQ; qn--; }
  nfq_destroy_queue(qhd); nfq_close(h); return 0;
}
