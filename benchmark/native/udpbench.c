/*
 * Native reference loops for the udpx benchmark (benchmark/run.js).
 *
 * Compiled at bench time with `gcc -O2` into a temporary directory; never committed.
 * Every mode talks only to 127.0.0.1, is bounded in time (alarm), and prints exactly one
 * JSON line with its result on stdout (receivers print a {"port":N} line first).
 *
 *   udpbench sendloop <port> <size> <seconds>   sendto() one datagram per call
 *   udpbench flood <port> <size> <seconds> gso|sendmmsg
 *                                               full-rate flood: UDP GSO buffers of up to
 *                                               64 datagrams, or sendmmsg() batches of 64
 *   udpbench sendmany <port,port,...> <size> <seconds>
 *                                               sendmmsg() of 64 datagrams per call, the
 *                                               destinations cycling over the ports
 *   udpbench recv [rcvbuf [nports [gro]]]       bind nports (default 1) sockets to
 *                                               127.0.0.1:0, drain them with recvmmsg();
 *                                               prints {"port":first,"ports":[...]};
 *                                               gro 1: UDP_GRO on, 64 KiB slots, datagrams
 *                                               counted per coalesced segment; each
 *                                               datagram's sender address is read, as
 *                                               every receiver that answers needs it (and
 *                                               as udpx's receiveBatches delivers it);
 *                                               stdin: "start" resets counters and CPU,
 *                                               "stop" prints the result and exits
 *   udpbench echo                               bind 127.0.0.1:0, echo every datagram
 *                                               (recvfrom + sendto) until SIGTERM
 *   udpbench ping <port> <size> <count> <warmup> <seconds>
 *                                               ping-pong client, RTT median/p99 in ns
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define SLOT 2048
#define HARD_LIMIT_S 300 /* no mode may outlive this, whatever the driver does */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((noreturn)) static void die(const char *what) {
  fprintf(stderr, "udpbench: %s: %s\n", what, strerror(errno));
  exit(2);
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static int udp_socket(void) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  return fd;
}

/* Binds fd to 127.0.0.1:0 and prints {"port":N}. */
static void bind_and_announce(int fd) {
  struct sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (getsockname(fd, (struct sockaddr *)&a, &len) < 0) die("getsockname");
  printf("{\"port\":%d}\n", ntohs(a.sin_port));
  fflush(stdout);
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

static int mode_sendloop(int port, int size, double seconds) {
  int fd = udp_socket();
  struct sockaddr_in dst = loopback(port);
  char *buf = calloc(1, (size_t)size);
  uint64_t sent = 0, errors = 0;
  double t0 = now_s(), t = t0;
  while (t - t0 < seconds) {
    for (int i = 0; i < 256; i++) {
      if (sendto(fd, buf, (size_t)size, 0, (struct sockaddr *)&dst, sizeof dst) == size)
        sent++;
      else
        errors++;
    }
    t = now_s();
  }
  printf("{\"sent\":%llu,\"errors\":%llu,\"elapsed\":%.6f}\n", (unsigned long long)sent,
         (unsigned long long)errors, t - t0);
  return 0;
}

/* sendmmsg() of BATCH datagrams per call, destination i % nports for the i-th of a batch. */
static int mode_sendmany(const char *portlist, int size, double seconds) {
  struct sockaddr_in dsts[BATCH];
  int nports = 0;
  char *list = strdup(portlist);
  for (char *tok = strtok(list, ","); tok && nports < BATCH; tok = strtok(NULL, ","))
    dsts[nports++] = loopback(atoi(tok));
  if (nports == 0) {
    fprintf(stderr, "udpbench: sendmany needs at least one port\n");
    return 64;
  }
  int fd = udp_socket();
  char *buf = calloc(1, (size_t)size);
  struct mmsghdr msgs[BATCH];
  struct iovec iov;
  iov.iov_base = buf;
  iov.iov_len = (size_t)size;
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    msgs[i].msg_hdr.msg_iov = &iov;
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &dsts[i % nports];
    msgs[i].msg_hdr.msg_namelen = sizeof dsts[0];
  }
  uint64_t sent = 0, errors = 0;
  double t0 = now_s(), t = t0;
  while (t - t0 < seconds) {
    for (int k = 0; k < 8; k++) {
      int n = sendmmsg(fd, msgs, BATCH, 0);
      if (n > 0)
        sent += (uint64_t)n;
      else
        errors++;
    }
    t = now_s();
  }
  printf("{\"sent\":%llu,\"errors\":%llu,\"elapsed\":%.6f}\n", (unsigned long long)sent,
         (unsigned long long)errors, t - t0);
  return 0;
}

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* linux/udp.h */
#endif

/* Floods port with datagrams of `size` bytes for `seconds`. With gso != 0 each sendmsg()
 * carries up to 64 datagrams as one UDP GSO buffer, which the kernel splits into separate
 * datagrams for a receiver without UDP_GRO: that outruns any receiver here, where a
 * sendmmsg() flood does not. Falls back to sendmmsg() when the kernel refuses UDP_SEGMENT. */
static int mode_flood(int port, int size, double seconds, int gso) {
  int fd = udp_socket();
  struct sockaddr_in dst = loopback(port);
  int segs = 1;
  if (gso) {
    segs = 65000 / size;
    if (segs > 64) segs = 64;
    if (segs < 2 || setsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &size, sizeof size) < 0) segs = 1;
  }
  char *buf = calloc((size_t)segs, (size_t)size);
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = buf;
    iov[i].iov_len = (size_t)size * (size_t)segs;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &dst;
    msgs[i].msg_hdr.msg_namelen = sizeof dst;
  }
  /* GSO: one buffer of `segs` datagrams per call; otherwise BATCH datagrams per call. */
  int per_call = segs > 1 ? 1 : BATCH;
  uint64_t sent = 0, errors = 0;
  double t0 = now_s(), t = t0;
  while (t - t0 < seconds) {
    for (int k = 0; k < 8; k++) {
      int n = sendmmsg(fd, msgs, (unsigned)per_call, 0);
      if (n > 0)
        sent += (uint64_t)n * (uint64_t)segs;
      else
        errors++;
    }
    t = now_s();
  }
  printf("{\"sent\":%llu,\"errors\":%llu,\"elapsed\":%.6f,\"method\":\"%s\"}\n",
         (unsigned long long)sent, (unsigned long long)errors, t - t0,
         segs > 1 ? "gso" : "sendmmsg");
  return 0;
}

/* Reads one command line from stdin (non-blocking use: call only when poll says readable).
 * Returns 's' for start, 'x' for stop or EOF, 0 for anything else. */
static int read_command(void) {
  char line[64];
  ssize_t n = read(0, line, sizeof line - 1);
  if (n <= 0) return 'x';
  line[n] = 0;
  if (strstr(line, "stop")) return 'x';
  if (strstr(line, "start")) return 's';
  return 0;
}

#ifndef UDP_GRO
#define UDP_GRO 104 /* linux/udp.h */
#endif
#define MAX_PORTS 64
#define GRO_SLOT 65536

/* Datagrams in one received slot: with UDP_GRO the kernel reports the segment size of a
 * coalesced run in a cmsg (SOL_UDP, UDP_GRO); without one the slot holds one datagram. */
static uint64_t segments_of(struct msghdr *h, unsigned len) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
      int seg;
      memcpy(&seg, CMSG_DATA(c), sizeof seg);
      if (seg > 0 && len > 0) return (len + (unsigned)seg - 1) / (unsigned)seg;
    }
  }
  return 1;
}

static int mode_recv(int rcvbuf, int nports, int gro) {
  if (nports < 1 || nports > MAX_PORTS) {
    fprintf(stderr, "udpbench: recv: nports must be 1..%d\n", MAX_PORTS);
    return 64;
  }
  int fds[MAX_PORTS], ports[MAX_PORTS];
  for (int p = 0; p < nports; p++) {
    int fd = fds[p] = udp_socket();
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
      die("SO_RCVBUF");
    int one = 1;
    if (gro && setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof one) < 0) die("UDP_GRO");
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0) die("getsockname");
    ports[p] = ntohs(a.sin_port);
  }
  printf("{\"port\":%d,\"ports\":[", ports[0]);
  for (int p = 0; p < nports; p++) printf("%s%d", p ? "," : "", ports[p]);
  printf("]}\n");
  fflush(stdout);
  size_t slot = gro ? GRO_SLOT : SLOT;
  char *bufs = malloc((size_t)BATCH * slot);
  static char ctrl[BATCH][64];
  static struct sockaddr_storage from[BATCH];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs + (size_t)i * slot;
    iov[i].iov_len = slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t received = 0, bytes = 0, calls = 0, waits = 0;
  double cpu0 = cpu_s(), t0 = now_s();
  struct pollfd pfd[MAX_PORTS + 1];
  pfd[0].fd = 0;
  pfd[0].events = POLLIN;
  for (int p = 0; p < nports; p++) {
    pfd[p + 1].fd = fds[p];
    pfd[p + 1].events = POLLIN;
  }
  for (;;) {
    int got = 0;
    for (int p = 0; p < nports; p++) {
      for (int i = 0; i < BATCH; i++) {
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      }
      if (gro) {
        for (int i = 0; i < BATCH; i++) {
          msgs[i].msg_hdr.msg_control = ctrl[i];
          msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i];
        }
      }
      int n = recvmmsg(fds[p], msgs, BATCH, MSG_DONTWAIT, NULL);
      if (n > 0) {
        got = 1;
        calls++;
        for (int i = 0; i < n; i++) {
          received += gro ? segments_of(&msgs[i].msg_hdr, msgs[i].msg_len) : 1;
          bytes += msgs[i].msg_len;
        }
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        die("recvmmsg");
      }
    }
    if (got) {
      /* Under a flood EAGAIN may never come: look at stdin now and then anyway. */
      if ((calls & 1023) >= (unsigned)nports) continue;
      if (poll(pfd, 1, 0) <= 0) continue;
    } else {
      waits++;
      if (poll(pfd, (nfds_t)nports + 1, 1000) <= 0 || !(pfd[0].revents & (POLLIN | POLLHUP))) continue;
    }
    int cmd = read_command();
    if (cmd == 's') {
      received = bytes = calls = waits = 0;
      cpu0 = cpu_s();
      t0 = now_s();
      printf("{\"started\":true}\n");
      fflush(stdout);
    } else if (cmd == 'x') {
      break;
    }
  }
  printf("{\"received\":%llu,\"bytes\":%llu,\"calls\":%llu,\"waits\":%llu,\"cpu\":%.6f,"
         "\"elapsed\":%.6f}\n",
         (unsigned long long)received, (unsigned long long)bytes, (unsigned long long)calls,
         (unsigned long long)waits, cpu_s() - cpu0, now_s() - t0);
  return 0;
}

static int mode_echo(void) {
  int fd = udp_socket();
  bind_and_announce(fd);
  char buf[SLOT];
  struct sockaddr_in peer;
  for (;;) {
    socklen_t len = sizeof peer;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &len);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("recvfrom");
    }
    sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&peer, len);
  }
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array (the same rule as worker.js). */
static uint64_t percentile(const uint64_t *sorted, int n, double p) {
  int idx = (int)(p * n + 0.999999999) - 1;
  if (idx < 0) idx = 0;
  if (idx >= n) idx = n - 1;
  return sorted[idx];
}

static int mode_ping(int port, int size, int count, int warmup, double seconds) {
  int fd = udp_socket();
  struct sockaddr_in dst = loopback(port);
  struct timeval tv = {.tv_sec = 0, .tv_usec = 200000}; /* resend after 200 ms of silence */
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char *buf = calloc(1, (size_t)(size < 8 ? 8 : size));
  char reply[SLOT];
  uint64_t *rtt = calloc((size_t)count, sizeof *rtt);
  int done = 0, lost = 0, total = count + warmup;
  double deadline = now_s() + seconds;
  for (uint32_t seq = 0; (int)seq < total && now_s() < deadline; seq++) {
    memcpy(buf, &seq, 4);
    uint64_t t0 = now_ns();
    sendto(fd, buf, (size_t)size, 0, (struct sockaddr *)&dst, sizeof dst);
    for (;;) {
      ssize_t n = recv(fd, reply, sizeof reply, 0);
      if (n >= 4 && memcmp(reply, &seq, 4) == 0) break;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        lost++;
        if (now_s() >= deadline) break;
        t0 = now_ns();
        sendto(fd, buf, (size_t)size, 0, (struct sockaddr *)&dst, sizeof dst);
      }
    }
    uint64_t t1 = now_ns();
    if ((int)seq >= warmup && done < count) rtt[done++] = t1 - t0;
  }
  qsort(rtt, (size_t)done, sizeof *rtt, cmp_u64);
  if (done == 0) {
    printf("{\"n\":0,\"lost\":%d}\n", lost);
    return 0;
  }
  printf("{\"n\":%d,\"lost\":%d,\"median\":%llu,\"p99\":%llu,\"min\":%llu,\"max\":%llu}\n", done,
         lost, (unsigned long long)percentile(rtt, done, 0.5),
         (unsigned long long)percentile(rtt, done, 0.99), (unsigned long long)rtt[0],
         (unsigned long long)rtt[done - 1]);
  return 0;
}

int main(int argc, char **argv) {
  alarm(HARD_LIMIT_S);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) goto usage;
  const char *m = argv[1];
  if (!strcmp(m, "sendloop") && argc == 5)
    return mode_sendloop(atoi(argv[2]), atoi(argv[3]), atof(argv[4]));
  if (!strcmp(m, "flood") && argc == 6)
    return mode_flood(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), !strcmp(argv[5], "gso"));
  if (!strcmp(m, "sendmany") && argc == 5)
    return mode_sendmany(argv[2], atoi(argv[3]), atof(argv[4]));
  if (!strcmp(m, "recv") && argc >= 2 && argc <= 5)
    return mode_recv(argc >= 3 ? atoi(argv[2]) : 0, argc >= 4 ? atoi(argv[3]) : 1,
                     argc >= 5 ? atoi(argv[4]) : 0);
  if (!strcmp(m, "echo") && argc == 2) return mode_echo();
  if (!strcmp(m, "ping") && argc == 7)
    return mode_ping(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atof(argv[6]));
usage:
  fprintf(stderr, "usage: see the comment at the top of udpbench.c\n");
  return 64;
}
