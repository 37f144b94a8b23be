// A constant-rate (open-loop) HTTP/1.1 load generator, as wrk2 does it: bench/fixed-rate.mjs in C.
// Request k is due at t0 + k/rate whatever happened to the ones before it, and its latency counts
// from that due time, not from when a connection was free to send it (no coordinated omission).
//
// Why C: the Node generator shares the load CPU with the backend, and its own event-loop turns and
// GC pauses landed in the p99 it reported (the bare proxy's p99 at a fixed 50% load ranged 4.7 to
// 12.4 ms across rounds). This one has no GC, and sleeps on a timerfd armed for the next due time
// (nanosecond resolution, no busy-spinning) in one epoll loop.
//
// Build: cc -O2 -o fixed-rate bench/fixed-rate.c -lm   (Linux; libc and libm only)
// Usage: fixed-rate --url http://127.0.0.1:8080/api/x --rate 5000 --duration 10
//          [--conns 64] [--warmup 2] [-H 'Name: value' ...]
// Prints one JSON object: { rate, duration, sent, completed, non2xx, errors, late, rps, p50, p90,
// p99, p999, max } (latencies in ms), as the .mjs does. Only 127.0.0.1 / ::1 / localhost targets
// are accepted (exit 2 otherwise); it stops by itself after warmup + duration (+ 5 s at most for
// the last answers).
//
// Same semantics as the .mjs: CONNS keep-alive connections, one request at a time each (no
// pipelining); a due request that finds no free connection waits in a backlog, and is counted as
// "late" when it is sent more than 1 ms after it was due; requests due in the warm-up are sent but
// not recorded; only 2xx latencies go into the percentiles (exact: all of them, sorted). A
// connection the server closes is reopened (after 10 ms; a request in flight on it is an error);
// one that answered "Connection: close" (or HTTP/1.0 without keep-alive) is reopened at once and
// its answer counts normally. Responses: Content-Length, chunked, or (no length) up to the close.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef int64_t ns_t;
#define MS 1000000LL
#define SEC 1000000000LL
#define MAX_HEAD (64 * 1024)     // a response head larger than this is a protocol error
#define MAX_LINE 4096            // a chunk-size or trailer line longer than this too
#define READ_MIN 16384           // free space wanted in a connection's buffer before a read
#define REOPEN_DELAY (10 * MS)   // as the .mjs: a closed connection is reopened 10 ms later
#define FINISH_WAIT (5 * SEC)    // at most this long for the answers still in flight
#define CONNECT_WAIT (200 * MS)  // the connections open before the schedule starts

static ns_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (ns_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void die(const char *msg) {
  fprintf(stderr, "fixed-rate: %s\n", msg);
  exit(2);
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (q == NULL) {
    fprintf(stderr, "fixed-rate: out of memory\n");
    exit(1);
  }
  return q;
}

// ---------------------------------------------------------------- options
static double opt_rate = NAN, opt_duration = 10, opt_warmup = 0, opt_conns = 64;
static const char *opt_url = NULL;
static char **opt_headers = NULL;
static size_t n_headers = 0;

// Number(text) as the .mjs reads it: the whole text must be a number (an empty one is 0).
static double number(const char *text) {
  while (isspace((unsigned char)*text)) text++;
  if (*text == '\0') return 0;
  char *end;
  double v = strtod(text, &end);
  while (isspace((unsigned char)*end)) end++;
  return *end == '\0' ? v : NAN;
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *name;
    const char *value = NULL;
    if (strncmp(a, "--", 2) == 0 && a[2] != '\0') {
      name = a + 2;
      const char *eq = strchr(name, '=');
      static char buf[64];
      if (eq != NULL) {
        size_t n = (size_t)(eq - name);
        if (n >= sizeof buf) n = sizeof buf - 1;
        memcpy(buf, name, n);
        buf[n] = '\0';
        name = buf;
        value = eq + 1;
      }
    } else if (strncmp(a, "-H", 2) == 0) {
      name = "header";
      if (a[2] != '\0') value = a[2] == '=' ? a + 3 : a + 2;
    } else {
      fprintf(stderr, "fixed-rate: unexpected argument '%s'\n", a);
      exit(2);
    }
    if (strcmp(name, "url") && strcmp(name, "rate") && strcmp(name, "duration") && strcmp(name, "warmup") &&
        strcmp(name, "conns") && strcmp(name, "header")) {
      fprintf(stderr, "fixed-rate: unknown option '%s'\n", a);
      exit(2);
    }
    if (value == NULL) {
      if (i + 1 >= argc) {
        fprintf(stderr, "fixed-rate: option '%s' needs a value\n", a);
        exit(2);
      }
      value = argv[++i];
    }
    if (!strcmp(name, "url")) opt_url = value;
    else if (!strcmp(name, "rate")) opt_rate = number(value);
    else if (!strcmp(name, "duration")) opt_duration = number(value);
    else if (!strcmp(name, "warmup")) opt_warmup = number(value);
    else if (!strcmp(name, "conns")) opt_conns = number(value);
    else {
      opt_headers = xrealloc(opt_headers, (n_headers + 1) * sizeof *opt_headers);
      opt_headers[n_headers++] = (char *)value;
    }
  }
}

// ---------------------------------------------------------------- the target (loopback only)
static struct sockaddr_storage target;
static socklen_t target_len;
static char *request;
static size_t request_len;

static void parse_url(void) {
  if (opt_url == NULL) die("--url is required (http://127.0.0.1:PORT/path)");
  const char *u = opt_url;
  if (strncasecmp(u, "http://", 7) != 0) die("--url must be an http:// URL on a loopback address");
  u += 7;
  // authority: up to the first / ? #
  size_t alen = strcspn(u, "/?#");
  char auth[300];
  if (alen == 0 || alen >= sizeof auth) die("only loopback targets");
  memcpy(auth, u, alen);
  auth[alen] = '\0';
  if (strchr(auth, '@') != NULL) die("only loopback targets");
  const char *rest = u + alen;
  // host and port
  char host[300];
  const char *port_text = NULL;
  if (auth[0] == '[') {
    char *close = strchr(auth, ']');
    if (close == NULL) die("only loopback targets");
    size_t hlen = (size_t)(close - auth) + 1;
    memcpy(host, auth, hlen);
    host[hlen] = '\0';
    if (close[1] == ':') port_text = close + 2;
    else if (close[1] != '\0') die("only loopback targets");
  } else {
    char *colon = strchr(auth, ':');
    size_t hlen = colon ? (size_t)(colon - auth) : strlen(auth);
    memcpy(host, auth, hlen);
    host[hlen] = '\0';
    if (colon) port_text = colon + 1;
  }
  for (char *p = host; *p; p++) *p = (char)tolower((unsigned char)*p);
  long port = 80;
  if (port_text != NULL && *port_text != '\0') {
    char *end;
    errno = 0;
    port = strtol(port_text, &end, 10);
    if (*end != '\0' || errno || port < 0 || port > 65535 || !isdigit((unsigned char)*port_text)) die("--url has an invalid port");
  }
  // The same three hostnames as the .mjs (as new URL() normalizes them: 127.1 is 127.0.0.1, [0::1] is [::1]).
  char hostname[64];
  memset(&target, 0, sizeof target);
  if (host[0] == '[') {
    char inner[64];
    size_t n = strlen(host) - 2;
    if (n >= sizeof inner) die("only loopback targets");
    memcpy(inner, host + 1, n);
    inner[n] = '\0';
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&target;
    if (inet_pton(AF_INET6, inner, &s6->sin6_addr) != 1 || !IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr)) die("only loopback targets");
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    target_len = sizeof *s6;
    strcpy(hostname, "[::1]");
  } else if (strcmp(host, "localhost") == 0) {
    // Node's net.connect looks localhost up: the first address the resolver gives.
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo("localhost", NULL, &hints, &res) != 0 || res == NULL) die("cannot resolve localhost");
    memcpy(&target, res->ai_addr, res->ai_addrlen);
    target_len = res->ai_addrlen;
    freeaddrinfo(res);
    if (target.ss_family == AF_INET) ((struct sockaddr_in *)&target)->sin_port = htons((uint16_t)port);
    else if (target.ss_family == AF_INET6) ((struct sockaddr_in6 *)&target)->sin6_port = htons((uint16_t)port);
    else die("cannot resolve localhost");
    strcpy(hostname, "localhost");
  } else {
    struct in_addr a;
    if (inet_aton(host, &a) == 0 || ntohl(a.s_addr) != 0x7f000001) die("only loopback targets");
    struct sockaddr_in *s4 = (struct sockaddr_in *)&target;
    s4->sin_family = AF_INET;
    s4->sin_addr = a;
    s4->sin_port = htons((uint16_t)port);
    target_len = sizeof *s4;
    strcpy(hostname, "127.0.0.1");
  }
  // path + query (the fragment is not sent); an empty path is "/"
  size_t plen = strcspn(rest, "#");
  const char *path = rest;
  char *pq = xrealloc(NULL, plen + 2);
  if (plen == 0 || rest[0] != '/') {
    pq[0] = '/';
    memcpy(pq + 1, path, plen);
    pq[plen + 1] = '\0';
  } else {
    memcpy(pq, path, plen);
    pq[plen] = '\0';
  }
  for (char *p = pq; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f) die("--url: the path must not contain spaces or control characters");
  // Host: as url.host (the port only when it is not 80)
  char hosthdr[96];
  if (port == 80) snprintf(hosthdr, sizeof hosthdr, "%s", hostname);
  else snprintf(hosthdr, sizeof hosthdr, "%s:%ld", hostname, port);
  size_t cap = strlen(pq) + strlen(hosthdr) + 64;
  for (size_t i = 0; i < n_headers; i++) cap += strlen(opt_headers[i]) + 2;
  request = xrealloc(NULL, cap);
  int n = snprintf(request, cap, "GET %s HTTP/1.1\r\nHost: %s\r\n", pq, hosthdr);
  for (size_t i = 0; i < n_headers; i++) n += snprintf(request + n, cap - (size_t)n, "%s\r\n", opt_headers[i]);
  n += snprintf(request + n, cap - (size_t)n, "\r\n");
  request_len = (size_t)n;
  free(pq);
}

// ---------------------------------------------------------------- counters, latencies, backlog
static uint64_t sent, completed, non2xx, errors, late;
static int64_t in_flight;
static double *latencies;
static size_t lat_count, lat_cap;

static void record(double ms) {
  if (lat_count == lat_cap) {
    lat_cap = lat_cap ? lat_cap * 2 : 1 << 16;
    latencies = xrealloc(latencies, lat_cap * sizeof *latencies);
  }
  latencies[lat_count++] = ms;
}

// due times of requests waiting for a free connection (FIFO ring)
static ns_t *backlog;
static size_t bl_head, bl_len, bl_cap;

static void backlog_push(ns_t due) {
  if (bl_len == bl_cap) {
    size_t cap = bl_cap ? bl_cap * 2 : 1024;
    ns_t *b = xrealloc(NULL, cap * sizeof *b);
    for (size_t i = 0; i < bl_len; i++) b[i] = backlog[(bl_head + i) % bl_cap];
    free(backlog);
    backlog = b;
    bl_cap = cap;
    bl_head = 0;
  }
  backlog[(bl_head + bl_len) % bl_cap] = due;
  bl_len++;
}

static ns_t backlog_shift(void) {
  ns_t due = backlog[bl_head];
  bl_head = (bl_head + 1) % bl_cap;
  bl_len--;
  return due;
}

// ---------------------------------------------------------------- connections
enum { C_CLOSED, C_CONNECTING, C_IDLE, C_BUSY };
enum { P_HEAD, P_BODY, P_UNTIL_CLOSE, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_CRLF, P_TRAILER };

struct conn {
  int fd;
  int state;
  uint32_t gen;      // bumped on every open: epoll events of a previous socket are ignored
  ns_t reopen_at;    // C_CLOSED: when to open again (0: not scheduled)
  ns_t due;          // C_BUSY: the request's due time
  int measured;
  size_t woff;       // bytes of the request written (< request_len: waiting for EPOLLOUT)
  int want_out;      // EPOLLOUT registered
  char *buf;         // received bytes not parsed yet: buf[start, end)
  size_t cap, start, end;
  size_t scanned;    // P_HEAD: bytes from start already searched for the blank line
  int pstate;
  uint64_t remaining;
  int status;
  int close_after;   // the response said Connection: close (or HTTP/1.0 without keep-alive)
};

static struct conn *conns;
static size_t n_conns;
static size_t *idle;  // a stack of free connections (indexes), as the .mjs's idle array
static size_t n_idle;
static int ep, tfd;
static int stopping;
static ns_t measure_from, end_at;

static void release(struct conn *c);
static void open_conn(struct conn *c);

static uint64_t ev_data(struct conn *c) { return ((uint64_t)c->gen << 32) | (uint64_t)(c - conns); }

static void set_events(struct conn *c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.u64 = ev_data(c)};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void idle_remove(struct conn *c) {
  size_t i = (size_t)(c - conns);
  for (size_t j = 0; j < n_idle; j++) {
    if (idle[j] == i) {
      memmove(idle + j, idle + j + 1, (n_idle - j - 1) * sizeof *idle);
      n_idle--;
      return;
    }
  }
}

/** Close the socket; a request in flight on it is an error. Reopened after `delay` unless stopping. */
static void close_conn(struct conn *c, ns_t delay) {
  if (c->state == C_BUSY) {
    errors++;
    in_flight--;
  }
  if (c->state == C_IDLE) idle_remove(c);
  if (c->fd >= 0) close(c->fd);  // also takes it out of the epoll set
  c->fd = -1;
  c->state = C_CLOSED;
  c->start = c->end = 0;
  c->want_out = 0;
  c->reopen_at = 0;
  if (stopping) return;
  if (delay == 0) open_conn(c);
  else c->reopen_at = now_ns() + delay;
}

static void connected(struct conn *c) {
  c->state = C_IDLE;  // (not on the idle stack yet: release() puts it there or hands it a request)
  c->want_out = 0;
  set_events(c, EPOLLIN);
  release(c);
}

static void open_conn(struct conn *c) {
  c->reopen_at = 0;
  c->gen++;
  c->fd = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    c->state = C_CLOSED;
    c->reopen_at = now_ns() + REOPEN_DELAY;
    return;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->state = C_CONNECTING;
  c->start = c->end = c->scanned = 0;
  c->want_out = 1;
  struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = ev_data(c)};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
    close_conn(c, REOPEN_DELAY);
    return;
  }
  if (connect(c->fd, (struct sockaddr *)&target, target_len) == 0) connected(c);
  else if (errno != EINPROGRESS) close_conn(c, REOPEN_DELAY);
}

/** Write what is left of the request; on EAGAIN wait for EPOLLOUT. */
static void flush(struct conn *c) {
  while (c->woff < request_len) {
    ssize_t n = send(c->fd, request + c->woff, request_len - c->woff, MSG_NOSIGNAL);
    if (n > 0) c->woff += (size_t)n;
    else if (n < 0 && errno == EINTR) continue;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c->want_out) {
        c->want_out = 1;
        set_events(c, EPOLLIN | EPOLLOUT);
      }
      return;
    } else {
      close_conn(c, REOPEN_DELAY);
      return;
    }
  }
  if (c->want_out) {
    c->want_out = 0;
    set_events(c, EPOLLIN);
  }
}

static void send_req(struct conn *c, ns_t due) {
  c->state = C_BUSY;
  c->due = due;
  c->measured = due >= measure_from && due < end_at;
  in_flight++;
  sent++;
  c->pstate = P_HEAD;
  c->scanned = 0;
  c->close_after = 0;
  c->start = c->end = 0;  // anything the server sent unasked is dropped
  c->woff = 0;
  flush(c);
}

static void release(struct conn *c) {
  if (bl_len > 0) {
    ns_t due = backlog_shift();
    if (now_ns() - due > 1 * MS) late++;
    send_req(c, due);
  } else {
    c->state = C_IDLE;
    idle[n_idle++] = (size_t)(c - conns);
  }
}

/** The response is complete. Returns 0 when the connection was closed (and maybe reopened). */
static int done(struct conn *c) {
  double ms = (double)(now_ns() - c->due) / 1e6;
  in_flight--;
  c->state = C_IDLE;
  if (c->measured) {
    completed++;
    if (c->status >= 200 && c->status < 300) record(ms);
    else non2xx++;
  }
  if (c->close_after) {
    close_conn(c, 0);  // the server closes it: open a new one now (not an error)
    return 0;
  }
  c->start = c->end = 0;  // never pipelined: nothing after the response belongs to us
  release(c);
  return 0;
}

static int has_token(const char *v, size_t n, const char *token) {
  size_t tl = strlen(token);
  for (size_t i = 0; i + tl <= n; i++) {
    if (strncasecmp(v + i, token, tl) == 0 && (i == 0 || v[i - 1] == ',' || v[i - 1] == ' ' || v[i - 1] == '\t') &&
        (i + tl == n || v[i + tl] == ',' || v[i + tl] == ' ' || v[i + tl] == '\t' || v[i + tl] == ';'))
      return 1;
  }
  return 0;
}

/**
 * Parse the head in buf[start, start + len) (without the blank line). Sets status, the body mode and
 * close_after. Returns -1 on a protocol error, 1 for an interim 1xx (to be skipped), 0 otherwise.
 */
static int parse_head(struct conn *c, const char *h, size_t len) {
  if (len < 12 || memcmp(h, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)h[7]) || h[8] != ' ' ||
      !isdigit((unsigned char)h[9]) || !isdigit((unsigned char)h[10]) || !isdigit((unsigned char)h[11]) ||
      (len > 12 && h[12] != ' ' && h[12] != '\r'))
    return -1;
  c->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
  int http10 = h[7] == '0';
  int keep_alive = 0, conn_close = 0, chunked = 0, has_length = 0;
  uint64_t length = 0;
  const char *p = memchr(h, '\n', len);
  const char *endh = h + len;
  while (p != NULL && p + 1 < endh) {
    const char *line = p + 1;
    const char *nl = memchr(line, '\n', (size_t)(endh - line));
    const char *le = nl ? nl : endh;
    size_t ll = (size_t)(le - line);
    if (ll > 0 && line[ll - 1] == '\r') ll--;
    const char *colon = memchr(line, ':', ll);
    if (colon != NULL) {
      size_t nlen = (size_t)(colon - line);
      const char *v = colon + 1;
      const char *ve = line + ll;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      size_t vl = (size_t)(ve - v);
      if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
        if (vl == 0) return -1;
        uint64_t n = 0;
        for (size_t i = 0; i < vl; i++) {
          if (!isdigit((unsigned char)v[i]) || n > (UINT64_MAX - 9) / 10) return -1;
          n = n * 10 + (uint64_t)(v[i] - '0');
        }
        if (has_length && n != length) return -1;
        has_length = 1;
        length = n;
      } else if (nlen == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
        if (has_token(v, vl, "chunked")) chunked = 1;
      } else if (nlen == 10 && strncasecmp(line, "connection", 10) == 0) {
        if (has_token(v, vl, "close")) conn_close = 1;
        if (has_token(v, vl, "keep-alive")) keep_alive = 1;
      }
    }
    p = nl;
  }
  if (c->status >= 100 && c->status < 200) return c->status == 101 ? -1 : 1;  // no upgrade was asked for
  c->close_after = conn_close || (http10 && !keep_alive);
  if (c->status == 204 || c->status == 304) {
    c->pstate = P_BODY;
    c->remaining = 0;
  } else if (chunked) {
    c->pstate = P_CHUNK_SIZE;
  } else if (has_length) {
    c->pstate = P_BODY;
    c->remaining = length;
  } else {
    c->pstate = P_UNTIL_CLOSE;  // no length: the body ends when the server closes
    c->close_after = 1;
  }
  return 0;
}

/** One line (ending in \n) from buf; returns its length with the \n, 0 when incomplete, -1 when too long. */
static long take_line(struct conn *c) {
  size_t avail = c->end - c->start;
  const char *nl = memchr(c->buf + c->start, '\n', avail);
  if (nl == NULL) return avail > MAX_LINE ? -1 : 0;
  return (long)(nl - (c->buf + c->start)) + 1;
}

/** Parse what has arrived. Returns 1 to keep reading, 0 when the connection changed state (done or closed). */
static int parse(struct conn *c) {
  for (;;) {
    char *b = c->buf + c->start;
    size_t avail = c->end - c->start;
    switch (c->pstate) {
      case P_HEAD: {
        size_t from = c->scanned > 3 ? c->scanned - 3 : 0;
        if (avail < 4 || from >= avail) return 1;
        char *e = memmem(b + from, avail - from, "\r\n\r\n", 4);
        if (e == NULL) {
          c->scanned = avail;
          if (avail > MAX_HEAD) {
            close_conn(c, REOPEN_DELAY);
            return 0;
          }
          return 1;
        }
        size_t hlen = (size_t)(e - b);
        int r = parse_head(c, b, hlen);
        c->start += hlen + 4;
        c->scanned = 0;
        if (r < 0) {
          close_conn(c, REOPEN_DELAY);
          return 0;
        }
        if (r == 1) c->pstate = P_HEAD;  // interim response: the real one follows
        break;
      }
      case P_BODY: {
        size_t take = avail < c->remaining ? avail : (size_t)c->remaining;
        c->start += take;
        c->remaining -= take;
        if (c->remaining > 0) return 1;
        return done(c);
      }
      case P_UNTIL_CLOSE:
        c->start = c->end;
        return 1;
      case P_CHUNK_SIZE:
      case P_TRAILER: {
        long n = take_line(c);
        if (n == 0) return 1;
        if (n < 0) {
          close_conn(c, REOPEN_DELAY);
          return 0;
        }
        c->start += (size_t)n;
        if (c->pstate == P_TRAILER) {
          if (n == 1 || (n == 2 && b[0] == '\r')) return done(c);  // the blank line after the trailers
          break;
        }
        uint64_t size = 0;
        long i = 0;
        for (; i < n && isxdigit((unsigned char)b[i]); i++) {
          if (size >> 60) {
            close_conn(c, REOPEN_DELAY);
            return 0;
          }
          size = size * 16 + (uint64_t)(isdigit((unsigned char)b[i]) ? b[i] - '0' : (tolower((unsigned char)b[i]) - 'a' + 10));
        }
        if (i == 0) {
          close_conn(c, REOPEN_DELAY);
          return 0;
        }
        if (size == 0) c->pstate = P_TRAILER;
        else {
          c->pstate = P_CHUNK_DATA;
          c->remaining = size;
        }
        break;
      }
      case P_CHUNK_DATA: {
        size_t take = avail < c->remaining ? avail : (size_t)c->remaining;
        c->start += take;
        c->remaining -= take;
        if (c->remaining > 0) return 1;
        c->pstate = P_CHUNK_CRLF;
        break;
      }
      case P_CHUNK_CRLF: {
        if (avail < 1) return 1;
        if (b[0] == '\n') {
          c->start += 1;
        } else {
          if (avail < 2) return 1;
          if (b[0] != '\r' || b[1] != '\n') {
            close_conn(c, REOPEN_DELAY);
            return 0;
          }
          c->start += 2;
        }
        c->pstate = P_CHUNK_SIZE;
        break;
      }
    }
  }
}

static void on_readable(struct conn *c) {
  if (c->start == c->end) c->start = c->end = 0;
  if (c->cap - c->end < READ_MIN) {
    if (c->start > 0) {
      memmove(c->buf, c->buf + c->start, c->end - c->start);
      c->end -= c->start;
      c->start = 0;
    }
    if (c->cap - c->end < READ_MIN) {
      c->cap = c->cap ? c->cap * 2 : 2 * READ_MIN;
      c->buf = xrealloc(c->buf, c->cap);
    }
  }
  ssize_t n = read(c->fd, c->buf + c->end, c->cap - c->end);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    close_conn(c, REOPEN_DELAY);
    return;
  }
  if (n == 0) {
    // Closed by the server: the end of a body without length, else (idle or mid-response) a reopen.
    if (c->state == C_BUSY && c->pstate == P_UNTIL_CLOSE) {
      c->close_after = 1;
      done(c);
    } else close_conn(c, REOPEN_DELAY);
    return;
  }
  if (c->state != C_BUSY) {
    c->start = c->end = 0;  // unasked bytes on an idle connection: dropped
    return;
  }
  c->end += (size_t)n;
  parse(c);
}

static void on_event(struct conn *c, uint32_t events) {
  if (c->state == C_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      close_conn(c, REOPEN_DELAY);
      return;
    }
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) connected(c);
    return;
  }
  uint32_t gen = c->gen;
  if ((events & EPOLLOUT) && c->state == C_BUSY && c->woff < request_len) flush(c);
  if (c->gen != gen || c->fd < 0) return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
}

// ---------------------------------------------------------------- the schedule
static ns_t armed = -1;  // the timerfd's expiry (-1: none pending)

static void arm(ns_t at) {
  if (at == armed) return;
  armed = at;
  if (at <= 0) at = 1;
  struct itimerspec its = {.it_value = {.tv_sec = at / SEC, .tv_nsec = at % SEC}};
  timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/** One turn of the event loop: reopen what is due, sleep until I/O or `wake` (or a reopen due before it). */
static void loop_once(ns_t wake) {
  ns_t now = now_ns();
  for (size_t i = 0; i < n_conns; i++) {
    struct conn *c = &conns[i];
    if (c->state != C_CLOSED || c->reopen_at == 0) continue;
    if (c->reopen_at <= now) open_conn(c);
    if (c->state == C_CLOSED && c->reopen_at != 0 && c->reopen_at < wake) wake = c->reopen_at;
  }
  arm(wake);
  struct epoll_event evs[256];
  int n = epoll_wait(ep, evs, 256, 1000);
  for (int i = 0; i < n; i++) {
    uint64_t d = evs[i].data.u64;
    if (d == UINT64_MAX) {
      uint64_t ticks;
      if (read(tfd, &ticks, sizeof ticks) < 0) { /* nothing to do */ }
      armed = -1;  // fired: the next arm() sets it again, even for the same time
      continue;
    }
    struct conn *c = &conns[d & 0xffffffffu];
    if ((uint32_t)(d >> 32) != c->gen || c->fd < 0) continue;  // an event of a closed socket
    on_event(c, evs[i].events);
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void jnum(char *out, size_t size, double v) {
  if (!isfinite(v)) {
    snprintf(out, size, "null");  // as JSON.stringify(NaN)
    return;
  }
  for (int p = 15; p <= 17; p++) {
    snprintf(out, size, "%.*g", p, v);
    if (strtod(out, NULL) == v) return;
  }
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  parse_args(argc, argv);
  parse_url();
  if (!(opt_rate > 0) || !(opt_duration > 0) || !(opt_warmup >= 0) || !(opt_conns > 0) || !isfinite(opt_rate) ||
      !isfinite(opt_duration) || !isfinite(opt_warmup) || opt_conns > 100000)
    die("--rate, --duration, --conns must be positive numbers");

  ep = epoll_create1(EPOLL_CLOEXEC);
  tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (ep < 0 || tfd < 0) {
    perror("fixed-rate: epoll/timerfd");
    return 1;
  }
  struct epoll_event tev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

  n_conns = (size_t)ceil(opt_conns);
  conns = calloc(n_conns, sizeof *conns);
  idle = calloc(n_conns, sizeof *idle);
  if (conns == NULL || idle == NULL) return 1;
  measure_from = INT64_MAX;  // nothing sent before t0 anyway
  end_at = INT64_MAX;
  for (size_t i = 0; i < n_conns; i++) {
    conns[i].fd = -1;
    open_conn(&conns[i]);
  }
  // let the connections open
  ns_t opened = now_ns() + CONNECT_WAIT;
  while (now_ns() < opened) loop_once(opened);

  // request k is due at t0 + k / rate, whatever happened to the ones before it
  const double interval = 1e9 / opt_rate;
  const ns_t t0 = now_ns();
  measure_from = t0 + llround(opt_warmup * 1e9);
  end_at = measure_from + llround(opt_duration * 1e9);
  uint64_t k = 0;
  ns_t next = t0;
  for (;;) {
    ns_t now = now_ns();
    ns_t until = now < end_at ? now : end_at;
    for (; next <= until; k++, next = t0 + llround((double)k * interval)) {
      if (n_idle > 0) send_req(&conns[idle[--n_idle]], next);
      else backlog_push(next);
    }
    if (now >= end_at) break;
    loop_once(next < end_at ? next : end_at);
  }
  // wait (at most 5 s) for the answers still in flight, then report
  ns_t deadline = now_ns() + FINISH_WAIT;
  while ((in_flight > 0 || bl_len > 0) && now_ns() < deadline) loop_once(deadline);
  stopping = 1;
  errors += (uint64_t)in_flight + bl_len;
  for (size_t i = 0; i < n_conns; i++)
    if (conns[i].fd >= 0) close(conns[i].fd);

  if (lat_count > 0) qsort(latencies, lat_count, sizeof *latencies, cmp_double);
  double q[4];
  const double ps[4] = {50, 90, 99, 99.9};
  for (int i = 0; i < 4; i++) {
    if (lat_count == 0) q[i] = NAN;
    else {
      double at = ceil((ps[i] / 100) * (double)lat_count) - 1;
      size_t idx = at < 0 ? 0 : (size_t)at;
      q[i] = latencies[idx < lat_count - 1 ? idx : lat_count - 1];
    }
  }
  char s[13][40];
  jnum(s[0], 40, opt_rate);
  jnum(s[1], 40, opt_duration);
  jnum(s[7], 40, (double)completed / opt_duration);
  for (int i = 0; i < 4; i++) jnum(s[8 + i], 40, q[i]);
  jnum(s[12], 40, lat_count == 0 ? NAN : latencies[lat_count - 1]);
  printf("{\"rate\":%s,\"duration\":%s,\"sent\":%llu,\"completed\":%llu,\"non2xx\":%llu,\"errors\":%llu,\"late\":%llu,"
         "\"rps\":%s,\"p50\":%s,\"p90\":%s,\"p99\":%s,\"p999\":%s,\"max\":%s}\n",
         s[0], s[1], (unsigned long long)sent, (unsigned long long)completed, (unsigned long long)non2xx,
         (unsigned long long)errors, (unsigned long long)late, s[7], s[8], s[9], s[10], s[11], s[12]);
  fflush(stdout);
  return 0;
}
