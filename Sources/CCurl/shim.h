// Typed wrappers for libcurl's variadic API: Swift cannot call curl_easy_setopt & co directly,
// and some curl macros (CURLVERSION_NOW, *_PAUSE) do not import with usable types.
#ifndef IMGPROMOTE_CCURL_SHIM_H
#define IMGPROMOTE_CCURL_SHIM_H
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#endif

static const size_t CCURL_WRITEFUNC_PAUSE = CURL_WRITEFUNC_PAUSE;
static const size_t CCURL_READFUNC_PAUSE = CURL_READFUNC_PAUSE;
static const size_t CCURL_READFUNC_ABORT = CURL_READFUNC_ABORT;
static const int CCURLPAUSE_CONT = CURLPAUSE_CONT;
static const long CCURL_GLOBAL_DEFAULT = CURL_GLOBAL_DEFAULT;

typedef size_t (*ccurl_data_cb)(char *_Nonnull, size_t, size_t, void *_Nullable);
typedef int (*ccurl_xferinfo_cb)(void *_Nullable, curl_off_t, curl_off_t, curl_off_t, curl_off_t);

static inline CURLcode ccurl_setopt_long(CURL *_Nonnull h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_off(CURL *_Nonnull h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_str(CURL *_Nonnull h, CURLoption o, const char *_Nullable v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_ptr(CURL *_Nonnull h, CURLoption o, void *_Nullable v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_slist(CURL *_Nonnull h, CURLoption o, struct curl_slist *_Nullable v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_datacb(CURL *_Nonnull h, CURLoption o, ccurl_data_cb _Nullable v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_xferinfo(CURL *_Nonnull h, ccurl_xferinfo_cb _Nullable v) { return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, v); }
static inline CURLcode ccurl_setopt_blob(CURL *_Nonnull h, CURLoption o, void *_Nonnull data, size_t len) {
    struct curl_blob b; b.data = data; b.len = len; b.flags = CURL_BLOB_COPY;
    return curl_easy_setopt(h, o, &b);
}

static inline CURLcode ccurl_getinfo_long(CURL *_Nonnull h, CURLINFO i, long *_Nonnull v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode ccurl_getinfo_off(CURL *_Nonnull h, CURLINFO i, curl_off_t *_Nonnull v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode ccurl_getinfo_str(CURL *_Nonnull h, CURLINFO i, char *_Nullable *_Nonnull v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode ccurl_getinfo_ptr(CURL *_Nonnull h, CURLINFO i, void *_Nullable *_Nonnull v) { return curl_easy_getinfo(h, i, v); }

static inline CURLMcode ccurl_multi_setopt_long(CURLM *_Nonnull m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }
static inline CURLMcode ccurl_multi_setopt_ptr(CURLM *_Nonnull m, CURLMoption o, void *_Nullable v) { return curl_multi_setopt(m, o, v); }

// The multi socket interface: curl says which sockets to watch and when its timer is due; the
// engine's event loop reports readiness with curl_multi_socket_action.
typedef int (*ccurl_socket_cb)(CURL *_Nonnull, curl_socket_t, int, void *_Nullable, void *_Nullable);
typedef int (*ccurl_timer_cb)(CURLM *_Nonnull, long, void *_Nullable);
static inline CURLMcode ccurl_multi_setopt_socketcb(CURLM *_Nonnull m, ccurl_socket_cb _Nullable f) { return curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, f); }
static inline CURLMcode ccurl_multi_setopt_timercb(CURLM *_Nonnull m, ccurl_timer_cb _Nullable f) { return curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, f); }
static const curl_socket_t CCURL_SOCKET_TIMEOUT = CURL_SOCKET_TIMEOUT;
static const int CCURL_POLL_IN = CURL_POLL_IN;
static const int CCURL_POLL_OUT = CURL_POLL_OUT;
static const int CCURL_POLL_REMOVE = CURL_POLL_REMOVE;

#ifdef __linux__
// epoll and eventfd for the engine thread. Wrapped here because struct epoll_event is packed on
// x86_64 and its data member is a union.

static inline int ccurl_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

/// Watches fd for input and/or output (level-triggered). `known`: fd was added before, so modify
/// it; either way falls back to the other operation (an fd number can be reused after a close).
static inline int ccurl_epoll_watch(int ep, int fd, int in, int out, int known) {
    struct epoll_event ev;
    ev.events = (in ? EPOLLIN : 0) | (out ? EPOLLOUT : 0);
    ev.data.u64 = 0;
    ev.data.fd = fd;
    int rc = epoll_ctl(ep, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    if (rc != 0 && errno == (known ? ENOENT : EEXIST)) rc = epoll_ctl(ep, known ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
    return rc;
}

static inline int ccurl_epoll_unwatch(int ep, int fd) { return epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL); }

/// Waits up to timeout ms (-1: forever); fills fds[i] and curl's CURL_CSELECT_* bits for each ready
/// fd (mapped the way libcurl maps poll results in Curl_socket_check). Returns the count, or -1.
static inline int ccurl_epoll_wait(int ep, int *_Nonnull fds, int *_Nonnull bits, int max, int timeout) {
    struct epoll_event ev[64];
    if (max > 64) max = 64;
    int n = epoll_wait(ep, ev, max, timeout);
    for (int i = 0; i < n; i++) {
        uint32_t e = ev[i].events;
        int b = 0;
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) b |= CURL_CSELECT_IN;
        if (e & (EPOLLOUT | EPOLLERR)) b |= CURL_CSELECT_OUT;
        fds[i] = ev[i].data.fd;
        bits[i] = b;
    }
    return n;
}

/// Names the calling thread (what profilers and `top -H` show).
static inline void ccurl_name_thread(const char *_Nonnull name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

static inline int ccurl_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
static inline void ccurl_eventfd_signal(int fd) { uint64_t one = 1; ssize_t r = write(fd, &one, sizeof one); (void)r; }
static inline void ccurl_eventfd_drain(int fd) { uint64_t v; ssize_t r = read(fd, &v, sizeof v); (void)r; }
#endif

/// libcurl's compiled-in CA bundle and CA directory (either may be NULL).
static inline const char *_Nullable ccurl_default_cainfo(void) {
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    return v->age >= CURLVERSION_SEVENTH ? v->cainfo : NULL;
}
static inline const char *_Nullable ccurl_default_capath(void) {
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    return v->age >= CURLVERSION_SEVENTH ? v->capath : NULL;
}

/// OpenSSL must be told not to register its atexit cleanup before curl_global_init: it races with
/// transfers still finishing on the engine thread at exit (swift-corelibs-foundation#5469).
static inline int ccurl_global_init(void) {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
    signal(SIGPIPE, SIG_IGN);
    return (int)curl_global_init(CURL_GLOBAL_DEFAULT);
}
#endif
