/*
 * The paced (open-loop) generator of bench/lib/paced.ts in C: the same schedule, measurements and JSON result
 * (PacedResult), without the stalls of a Node event loop. A setImmediate loop in Node, alone on a core of this
 * VM, showed 7-8 gaps over 1 ms per 10 s and up to 10 ms; a loop in C, none (BENCHMARKS.md, Round 5). A stall
 * of the generator delays every request due during it, and those delays were charged to the server.
 *
 *   paced-generator HOST PORT CONNECTIONS RATE WARMUP_S DURATION_S REQUESTS_FILE
 *
 * HOST is an IPv4 address. REQUESTS_FILE (written by paced.ts): u32 count n, u32 offsets[n + 1], then the
 * request bytes back to back; request i is bytes offsets[i] to offsets[i + 1]. Request i is due at
 * t0 + i / RATE whatever happened before (coordinated omission: its latency runs from that intended time); due
 * requests wait here for a free keep-alive connection. The loop never sleeps (epoll_wait with a zero timeout).
 * Prints one JSON line and exits 0, or prints the error on stderr and exits 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WINDOW_MS 250.0  /* paced.ts WINDOW_MS */
#define GAP_SPAN_US 10000 /* loop gaps in 1 us buckets up to 10 ms, the rest kept: stats.ts GapHistogram */
#define MAX_CONNS 1024
#define BUF 65536

typedef struct {
  int fd, ready, busy, gone;
  double intended, sent_at;
  char buf[BUF];
  int len;
} Conn;

typedef struct {
  double *v;
  long n, cap;
} Samples;

static Conn conns[MAX_CONNS];
static int nconns, ep;
static struct sockaddr_in addr;
static int idle[MAX_CONNS], nidle;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *what) {
  fprintf(stderr, "paced-generator: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Sized for every request of the run up front (as paced.ts does): no copy of a growing buffer mid-run. */
static void reserve(Samples *s, long n) {
  s->cap = n > 16 ? n : 16;
  s->v = malloc(s->cap * sizeof(double));
  if (!s->v) die("malloc");
}

static void push(Samples *s, double v) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 1 << 16;
    s->v = realloc(s->v, s->cap * sizeof(double));
    if (!s->v) die("realloc");
  }
  s->v[s->n++] = v;
}

/* Opens slot i's connection; on an immediate failure the slot stays closed (fd -1) and the loop tries again. */
static void open_conn(int i) {
  Conn *c = &conns[i];
  c->ready = c->busy = c->gone = 0;
  c->len = 0;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) die("socket");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
    close(c->fd);
    c->fd = -1;
    return;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
}

/* Case-insensitive search of needle in the first n bytes of hay. */
static const char *find(const char *hay, int n, const char *needle) {
  int k = (int)strlen(needle);
  for (int i = 0; i + k <= n; i++)
    if (strncasecmp(hay + i, needle, k) == 0) return hay + i;
  return NULL;
}

/* A complete response at the start of c->buf: its status, and whether it closes the connection; 0 if not yet. */
static int response(Conn *c, int *status, int *close) {
  const char *end = find(c->buf, c->len, "\r\n\r\n");
  if (!end) return 0;
  int head = (int)(end - c->buf) + 4;
  const char *cl = find(c->buf, head, "\r\ncontent-length:");
  long length = cl ? strtol(cl + 17, NULL, 10) : 0;
  if (c->len < head + length) return 0;
  *status = c->len > 12 ? atoi(c->buf + 9) : 0;
  *close = find(c->buf, head, "\r\nconnection: close") != NULL;
  return 1;
}

/* The slice of the window holding time t (clamped: rounding must never index past the last slice). */
static int slice_of(double t, double win_start, int slices) {
  int s = (int)floor((t - win_start) / WINDOW_MS);
  return s < 0 ? 0 : s >= slices ? slices - 1 : s;
}

/*
 * Closes slot i's connection: a request outstanding on it failed (counted once, if it was due in the window), and
 * a new connection takes its place before the deadline.
 */
static void drop(int i, double win_start, double win_end, double deadline, long *answered, long *errors) {
  Conn *c = &conns[i];
  if (c->busy) {
    c->busy = 0;
    (*answered)++;
    if (c->intended >= win_start && c->intended < win_end) (*errors)++;
  }
  if (c->fd >= 0) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
  }
  for (int j = 0; j < nidle; j++)
    if (idle[j] == i) idle[j--] = idle[--nidle];
  if (now_ms() < deadline) open_conn(i);
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* {count, p50, p90, p99, max, mean}: nearest rank, rounded to 3 decimals as stats.ts summarise. */
static void summary(const char *name, Samples *s) {
  qsort(s->v, s->n, sizeof(double), cmp);
  double sum = 0;
  for (long i = 0; i < s->n; i++) sum += s->v[i];
  printf("\"%s\":{\"count\":%ld", name, s->n);
  const double ps[3] = {50, 90, 99};
  const char *names[3] = {"p50", "p90", "p99"};
  for (int k = 0; k < 3; k++) {
    if (s->n == 0) printf(",\"%s\":null", names[k]);
    else {
      long rank = (long)ceil(ps[k] / 100 * s->n);
      long i = rank - 1 < 0 ? 0 : rank - 1 >= s->n ? s->n - 1 : rank - 1;
      printf(",\"%s\":%.3f", names[k], s->v[i]);
    }
  }
  if (s->n == 0) printf(",\"max\":null,\"mean\":null}");
  else printf(",\"max\":%.3f,\"mean\":%.3f}", s->v[s->n - 1], sum / s->n);
}

/* The loop gaps' summary from the 1 us buckets (a bucket's upper edge: never under-reports) and the long ones. */
static void gap_summary(const uint32_t *buckets, Samples *lng, long n, double sum) {
  qsort(lng->v, lng->n, sizeof(double), cmp);
  long bucketed = n - lng->n;
  printf("\"loopGap\":{\"count\":%ld", n);
  const double ps[3] = {50, 90, 99};
  const char *names[3] = {"p50", "p90", "p99"};
  for (int k = 0; k < 3; k++) {
    double v = NAN;
    long rank = (long)ceil(ps[k] / 100 * n);
    if (rank < 1) rank = 1;
    if (n == 0) v = NAN;
    else if (rank > bucketed) v = lng->v[rank - bucketed - 1];
    else {
      long seen = 0;
      for (int b = 0; b < GAP_SPAN_US; b++)
        if ((seen += buckets[b]) >= rank) {
          v = (b + 1) / 1000.0;
          break;
        }
    }
    if (v != v) printf(",\"%s\":null", names[k]);
    else printf(",\"%s\":%.3f", names[k], v);
  }
  double top = NAN;
  if (lng->n > 0) top = lng->v[lng->n - 1];
  else
    for (int b = GAP_SPAN_US - 1; b >= 0; b--)
      if (buckets[b]) {
        top = (b + 1) / 1000.0;
        break;
      }
  if (top != top) printf(",\"max\":null");
  else printf(",\"max\":%.3f", top);
  if (n == 0) printf(",\"mean\":null}");
  else printf(",\"mean\":%.3f}", sum / n);
}

static void array_d(const char *name, const double *v, int n) {
  printf("\"%s\":[", name);
  for (int i = 0; i < n; i++) printf(i ? ",%.3f" : "%.3f", v[i]);
  printf("]");
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: paced-generator HOST PORT CONNECTIONS RATE WARMUP_S DURATION_S REQUESTS_FILE\n");
    return 1;
  }
  nconns = atoi(argv[3]);
  double rate = atof(argv[4]), warmup_s = atof(argv[5]), duration_s = atof(argv[6]);
  if (nconns < 1 || nconns > MAX_CONNS || !(rate > 0)) {
    fprintf(stderr, "paced-generator: bad connections or rate\n");
    return 1;
  }
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
    fprintf(stderr, "paced-generator: HOST must be an IPv4 address\n");
    return 1;
  }

  FILE *f = fopen(argv[7], "rb");
  if (!f) die("requests file");
  uint32_t total;
  if (fread(&total, 4, 1, f) != 1) die("requests file");
  uint32_t *at = malloc((total + 1) * sizeof(uint32_t));
  if (!at || fread(at, 4, total + 1, f) != total + 1) die("requests file");
  char *bytes = malloc(at[total] ? at[total] : 1);
  if (!bytes || fread(bytes, 1, at[total], f) != at[total]) die("requests file");
  fclose(f);

  double interval = 1000.0 / rate;
  ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  for (int i = 0; i < nconns; i++) open_conn(i);

  double *queue = malloc(total * sizeof(double));
  if (!queue) die("malloc");
  long qhead = 0, qtail = 0, due = 0, answered = 0, next = 0;
  long ok = 0, non2xx = 0, errors = 0;
  int slices = (int)ceil(duration_s * 1000 / WINDOW_MS);
  double *done = calloc(slices, sizeof(double)), *worst = calloc(slices, sizeof(double));
  double *stalls = calloc(slices, sizeof(double));
  uint32_t *buckets = calloc(GAP_SPAN_US, sizeof(uint32_t));
  Samples latency = {0}, service = {0}, lag = {0}, longgaps = {0};
  reserve(&latency, total);
  reserve(&service, total);
  reserve(&lag, total);
  reserve(&longgaps, 1024);
  long gaps = 0;
  double gapsum = 0;

  double t0 = now_ms() + 200; /* connections open first */
  double win_start = t0 + warmup_s * 1000, win_end = win_start + duration_s * 1000, deadline = win_end + 10000;
  struct timespec real;
  double start_epoch = 0;
  double last = 0, retry_at = 0;
  struct epoll_event evs[64];

  for (;;) {
    double now = now_ms();
    if (start_epoch == 0 && now >= win_start) {
      clock_gettime(CLOCK_REALTIME, &real);
      start_epoch = real.tv_sec * 1e3 + real.tv_nsec / 1e6 - (now - win_start);
    }
    if (last > 0 && now >= win_start && now < win_end) {
      double g = now - last;
      gaps++;
      gapsum += g;
      long b = (long)floor(g * 1000);
      if (b < GAP_SPAN_US) buckets[b]++;
      else push(&longgaps, g);
      int s = slice_of(now, win_start, slices);
      if (g > stalls[s]) stalls[s] = g;
    }
    last = now;
    while (due < (long)total && t0 + due * interval <= now) queue[qtail++] = t0 + due++ * interval;
    while (qhead < qtail && nidle > 0) {
      Conn *c = &conns[idle[--nidle]];
      if (!c->ready || c->gone) continue;
      c->busy = 1;
      c->intended = queue[qhead++];
      c->sent_at = now_ms();
      uint32_t from = at[next], to = at[next + 1];
      next++;
      /* An idle keep-alive connection has an empty send buffer: a request of a few hundred bytes goes whole. */
      if (send(c->fd, bytes + from, to - from, MSG_NOSIGNAL) != (ssize_t)(to - from))
        drop((int)(c - conns), win_start, win_end, deadline, &answered, &errors);
    }
    /* Slots whose reconnect failed at once (a server refusing): tried again every 10 ms, so the pool keeps its size. */
    if (now >= retry_at) {
      retry_at = now + 10;
      for (int i = 0; i < nconns; i++)
        if (conns[i].fd < 0 && now < deadline) open_conn(i);
    }
    if ((due == (long)total && answered >= (long)total) || now > deadline) break;

    int n = epoll_wait(ep, evs, 64, 0);
    for (int k = 0; k < n; k++) {
      int i = (int)evs[k].data.u32;
      Conn *c = &conns[i];
      if (c->fd < 0) continue;
      if (c->ready && (evs[k].events & (EPOLLERR | EPOLLHUP)) && !(evs[k].events & EPOLLIN)) c->gone = 1;
      if (!c->ready && (evs[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) c->gone = 1;
        else {
          c->ready = 1;
          struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
          idle[nidle++] = i;
        }
      }
      while (!c->gone && (evs[k].events & EPOLLIN)) {
        ssize_t r = recv(c->fd, c->buf + c->len, BUF - c->len, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || (r > 0 && c->len + r >= BUF)) {
          c->gone = 1;
          break;
        }
        if (r < 0) break;
        c->len += (int)r;
        int status, close_it;
        if (!c->busy || !response(c, &status, &close_it)) continue;
        double t = now_ms();
        answered++;
        c->busy = 0;
        c->len = 0;
        if (t >= win_start && t < win_end) done[slice_of(t, win_start, slices)]++;
        if (c->intended >= win_start && c->intended < win_end) {
          if (status >= 200 && status < 300) {
            ok++;
            push(&latency, t - c->intended);
            push(&service, t - c->sent_at);
            push(&lag, c->sent_at - c->intended);
            int s = slice_of(c->intended, win_start, slices);
            if (t - c->intended > worst[s]) worst[s] = t - c->intended;
          } else non2xx++;
        }
        if (close_it) c->gone = 1;
        else idle[nidle++] = i;
        break;
      }
      if (c->gone) drop(i, win_start, win_end, deadline, &answered, &errors);
    }
  }

  /* Past the deadline: every request of the window still queued or outstanding failed. */
  long unanswered = (long)total - answered;
  for (long q = qhead; q < qtail; q++)
    if (queue[q] >= win_start && queue[q] < win_end) errors++;
  for (int i = 0; i < nconns; i++)
    if (conns[i].busy && conns[i].intended >= win_start && conns[i].intended < win_end) errors++;

  printf("{\"rate\":%.17g,\"connections\":%d,\"durationS\":%.17g,\"ok\":%ld,\"achievedPerS\":", rate, nconns,
         duration_s, ok);
  if (duration_s > 0) printf("%.17g,", ok / duration_s);
  else printf("null,");
  printf("\"non2xx\":%ld,\"errors\":%ld,\"unanswered\":%ld,", non2xx, errors, unanswered);
  summary("latency", &latency);
  printf(",");
  summary("serviceTime", &service);
  printf(",");
  summary("sendLag", &lag);
  printf(",");
  gap_summary(buckets, &longgaps, gaps, gapsum);
  printf(",\"windows\":{\"startEpochMs\":%.3f,\"ms\":%.0f,\"done\":[", start_epoch, WINDOW_MS);
  for (int s = 0; s < slices; s++) printf(s ? ",%.0f" : "%.0f", done[s]);
  printf("],");
  array_d("worstMs", worst, slices);
  printf(",");
  array_d("generatorGapMs", stalls, slices);
  printf("},\"generator\":\"c\"}\n");
  return 0;
}
