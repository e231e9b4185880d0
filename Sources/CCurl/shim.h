// Typed wrappers for libcurl's variadic API: Swift cannot call curl_easy_setopt & co directly,
// and some curl macros (CURLVERSION_NOW, *_PAUSE) do not import with usable types.
#ifndef IMGPROMOTE_CCURL_SHIM_H
#define IMGPROMOTE_CCURL_SHIM_H
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <signal.h>

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
