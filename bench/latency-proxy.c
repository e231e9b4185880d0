/*
 * TCP proxy on loopback that delays every byte by DELAY_MS in each direction without capping
 * bandwidth: what it reads is queued with a due time and written when due, so a full window of
 * data is always in flight. It stands for the round trip between clusters that are not on one host.
 *
 *   cc -O2 -pthread -o latency-proxy bench/latency-proxy.c
 *   latency-proxy LISTEN_PORT TARGET_PORT DELAY_MS      (runs until killed; 127.0.0.1 only)
 *
 * Why C and splice: the benchmark runs on 2 cores, where the tools being compared, both registries
 * and this proxy share the CPU. Real network latency costs the agent no CPU, but a proxy does: one
 * written with Python's asyncio took about 0.5 s of CPU per 500 MiB moved, a read/write loop in C
 * 0.35 s, and this one about 0.15 s. One thread per direction sleeps in ppoll until input is readable
 * or the oldest queued read is due.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* In-flight data waits in pipes: splice moves it socket → pipe → socket by page reference, so the
 * proxy never copies a byte itself. A pipe holds 64 KiB to 1 MiB (pipe-max-size; no sysctl is
 * touched), so each direction keeps a ring of pipes, opened as the bandwidth-delay product needs. */
enum { PIPES = 256, SPLICE_MAX = 1 << 20, RECORDS = 1 << 16 };
/* Reading pauses above this many queued bytes per direction (a pipe slot can hold more than a
 * page, so the pipes alone do not bound it): well above the bandwidth-delay product of ~1 GB/s at
 * 20 ms, so the proxy never becomes the bottleneck, yet bounded. */
static const size_t MAX_QUEUED = 64u << 20;

/* One read: LEN bytes waiting in pipe PIPE until DUE_NS. */
struct record { long long due_ns; size_t len; int pipe; };

struct connection {
    int client, upstream;
    atomic_int directions_left;
};

struct direction {
    struct connection *conn;
    int in, out;
};

static long long delay_ns;
static struct sockaddr_in target;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void release(struct connection *conn) {
    if (atomic_fetch_sub(&conn->directions_left, 1) == 1) {
        close(conn->client);
        close(conn->upstream);
        free(conn);
    }
}

static void *pump(void *arg) {
    struct direction d = *(struct direction *)arg;
    free(arg);
    struct { int r, w; size_t bytes; } pipes[PIPES];
    for (int i = 0; i < PIPES; i++) pipes[i].r = pipes[i].w = -1, pipes[i].bytes = 0;
    struct record *records = malloc(sizeof *records * RECORDS);
    size_t first = 0, end = 0;   /* queued records: [first, end), modulo RECORDS */
    size_t queued = 0;
    int w = 0;                   /* the pipe being filled */
    int input_done = records == NULL, failed = records == NULL, full = 0;

    while (!failed && !(input_done && first == end)) {
        struct record *head = first != end ? &records[first % RECORDS] : NULL;
        long long now = now_ns();
        int head_due = head != NULL && head->due_ns <= now;
        struct pollfd fds[2] = {
            /* ppoll skips negative descriptors: a side not waited on must not wake us with HUP. */
            { .fd = (!input_done && !full && end - first < RECORDS && queued < MAX_QUEUED) ? d.in : -1, .events = POLLIN },
            { .fd = head_due ? d.out : -1, .events = POLLOUT },
        };
        struct timespec timeout, *wait = NULL;
        if (head != NULL && !head_due) {
            long long left = head->due_ns - now;
            timeout.tv_sec = left / 1000000000LL;
            timeout.tv_nsec = left % 1000000000LL;
            wait = &timeout;
        }
        if (ppoll(fds, 2, wait, NULL) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[0].revents) {
            if (pipes[w].r < 0) {
                int p[2];
                if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) { failed = 1; break; }
                fcntl(p[1], F_SETPIPE_SZ, SPLICE_MAX);   /* best effort: 64 KiB pipes work too */
                pipes[w].r = p[0]; pipes[w].w = p[1];
            }
            ssize_t n = splice(d.in, NULL, pipes[w].w, NULL, SPLICE_MAX, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                records[end % RECORDS] = (struct record){ now_ns() + delay_ns, (size_t)n, w };
                end++;
                pipes[w].bytes += (size_t)n;
                queued += (size_t)n;
            } else if (n == 0) {
                input_done = 1;
            } else if (errno == EAGAIN) {
                /* This pipe is full: go on with the next one, unless it still holds older data. */
                int next = (w + 1) % PIPES;
                if (pipes[w].bytes > 0) { if (pipes[next].bytes == 0) w = next; else full = 1; }
            } else if (errno != EINTR) {
                input_done = 1;   /* a reset: deliver what is queued, then pass the end on */
            }
        }
        if (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            failed = 1;
        } else if (fds[1].revents & POLLOUT) {
            ssize_t n = splice(pipes[head->pipe].r, NULL, d.out, NULL, head->len,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK | (head->len > (size_t)SPLICE_MAX ? SPLICE_F_MORE : 0));
            if (n < 0) {
                if (errno != EINTR && errno != EAGAIN) failed = 1;
                continue;
            }
            head->len -= (size_t)n;
            pipes[head->pipe].bytes -= (size_t)n;
            queued -= (size_t)n;
            full = 0;
            if (head->len == 0) first++;
        }
    }
    if (failed) {
        /* The receiving side is gone: make the sending side see it too. */
        shutdown(d.in, SHUT_RDWR);
        shutdown(d.out, SHUT_RDWR);
    } else {
        shutdown(d.out, SHUT_WR);
    }
    for (int i = 0; i < PIPES; i++) if (pipes[i].r >= 0) { close(pipes[i].r); close(pipes[i].w); }
    free(records);
    release(d.conn);
    return NULL;
}

static int start(struct connection *conn, int in, int out) {
    struct direction *d = malloc(sizeof *d);
    if (d == NULL) return -1;
    *d = (struct direction){ .conn = conn, .in = in, .out = out };
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int rc = pthread_create(&thread, &attr, pump, d);
    pthread_attr_destroy(&attr);
    if (rc != 0) free(d);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s LISTEN_PORT TARGET_PORT DELAY_MS\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Each direction may hold up to 2 x PIPES descriptors. */
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0) { files.rlim_cur = files.rlim_max; setrlimit(RLIMIT_NOFILE, &files); }
    delay_ns = (long long)(atof(argv[3]) * 1e6);
    target = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct sockaddr_in listen_addr = target;
    listen_addr.sin_port = htons((uint16_t)atoi(argv[1]));

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (listener < 0 || bind(listener, (struct sockaddr *)&listen_addr, sizeof listen_addr) < 0 ||
        listen(listener, 128) < 0) {
        perror("latency-proxy: listen");
        return 1;
    }
    for (;;) {
        int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("latency-proxy: accept");
            return 1;
        }
        int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (upstream < 0 || connect(upstream, (struct sockaddr *)&target, sizeof target) < 0) {
            close(client);
            if (upstream >= 0) close(upstream);
            continue;
        }
        for (int *fd = (int[]){ client, upstream, -1 }; *fd >= 0; fd++) {
            setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);   /* a full socket must not stall the pump */
        }
        struct connection *conn = malloc(sizeof *conn);
        if (conn == NULL) { close(client); close(upstream); continue; }
        conn->client = client; conn->upstream = upstream;
        atomic_init(&conn->directions_left, 2);
        if (start(conn, client, upstream) != 0) { close(client); close(upstream); free(conn); continue; }
        if (start(conn, upstream, client) != 0) {
            /* The first direction owns a reference; ending the sockets makes it finish and free. */
            shutdown(client, SHUT_RDWR); shutdown(upstream, SHUT_RDWR);
            release(conn);
        }
    }
}
