#ifndef IMGPROMOTE_CTLS_SHIM_H
#define IMGPROMOTE_CTLS_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
// SSL_CTX_set_* macros that Swift cannot import.
static inline long ctls_ctx_set_min_proto(SSL_CTX *_Nonnull c, int v) { return SSL_CTX_set_min_proto_version(c, v); }
static inline long ctls_set_tlsext_host_name(SSL *_Nonnull s, const char *_Nonnull name) { return SSL_set_tlsext_host_name(s, name); }
#endif
