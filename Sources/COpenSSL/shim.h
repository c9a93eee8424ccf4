#ifndef MAILSEC_COPENSSL_SHIM_H
#define MAILSEC_COPENSSL_SHIM_H

// OpenSSL 3 (Debian: libssl-dev). Swift cannot call C macros that take
// arguments, nor the type-safe `sk_*` stack accessors (all macros), so each
// one we use gets a one-line static inline wrapper here: a system-library
// target compiles no .c file. Every wrapper is prefixed `mailsec_`.

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// BIO_get_mem_data is a macro over BIO_ctrl.
static inline long mailsec_BIO_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

// OPENSSL_free is a macro that passes __FILE__/__LINE__ to CRYPTO_free.
static inline void mailsec_OPENSSL_free(void *pointer) {
    OPENSSL_free(pointer);
}

// X509V3_set_ctx_nodb is a macro assigning a struct field.
static inline void mailsec_X509V3_set_ctx_nodb(X509V3_CTX *ctx) {
    X509V3_set_ctx_nodb(ctx);
}

// subjectAltName: GENERAL_NAMES is STACK_OF(GENERAL_NAME).
static inline int mailsec_sk_GENERAL_NAME_num(const GENERAL_NAMES *names) {
    return sk_GENERAL_NAME_num(names);
}
static inline GENERAL_NAME *mailsec_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int index) {
    return sk_GENERAL_NAME_value(names, index);
}

// extendedKeyUsage: EXTENDED_KEY_USAGE is STACK_OF(ASN1_OBJECT).
static inline int mailsec_sk_ASN1_OBJECT_num(const EXTENDED_KEY_USAGE *objects) {
    return sk_ASN1_OBJECT_num(objects);
}
static inline ASN1_OBJECT *mailsec_sk_ASN1_OBJECT_value(const EXTENDED_KEY_USAGE *objects, int index) {
    return sk_ASN1_OBJECT_value(objects, index);
}

// Extension lists, for the extension request of a CSR.
static inline STACK_OF(X509_EXTENSION) *mailsec_sk_X509_EXTENSION_new_null(void) {
    return sk_X509_EXTENSION_new_null();
}
static inline int mailsec_sk_X509_EXTENSION_push(STACK_OF(X509_EXTENSION) *list, X509_EXTENSION *extension) {
    return sk_X509_EXTENSION_push(list, extension);
}
static inline int mailsec_sk_X509_EXTENSION_num(const STACK_OF(X509_EXTENSION) *list) {
    return sk_X509_EXTENSION_num(list);
}
static inline X509_EXTENSION *mailsec_sk_X509_EXTENSION_value(const STACK_OF(X509_EXTENSION) *list, int index) {
    return sk_X509_EXTENSION_value(list, index);
}
// Frees the list and every extension in it.
static inline void mailsec_sk_X509_EXTENSION_free_all(STACK_OF(X509_EXTENSION) *list) {
    sk_X509_EXTENSION_pop_free(list, X509_EXTENSION_free);
}

// Certificate lists, for chains handed to X509_STORE_CTX.
static inline STACK_OF(X509) *mailsec_sk_X509_new_null(void) {
    return sk_X509_new_null();
}
// Pushes a reference of the list's own (up_ref), so the certificate lives as
// long as the list, whatever happens to the Swift object it came from.
static inline int mailsec_sk_X509_push_reference(STACK_OF(X509) *list, X509 *certificate) {
    if (X509_up_ref(certificate) != 1) return 0;
    int pushed = sk_X509_push(list, certificate);
    if (pushed <= 0) X509_free(certificate);
    return pushed;
}
static inline int mailsec_sk_X509_num(const STACK_OF(X509) *list) {
    return sk_X509_num(list);
}
static inline X509 *mailsec_sk_X509_value(const STACK_OF(X509) *list, int index) {
    return sk_X509_value(list, index);
}
// Frees the list and its references.
static inline void mailsec_sk_X509_free_all(STACK_OF(X509) *list) {
    sk_X509_pop_free(list, X509_free);
}

// CRLs handed to X509_STORE_CTX_set0_crls, and the store's objects (to tell an anchor).
static inline STACK_OF(X509_CRL) *mailsec_sk_X509_CRL_new_null(void) {
    return sk_X509_CRL_new_null();
}
// As for certificates: the list holds a reference of its own to each CRL.
static inline int mailsec_sk_X509_CRL_push_reference(STACK_OF(X509_CRL) *list, X509_CRL *crl) {
    if (X509_CRL_up_ref(crl) != 1) return 0;
    int pushed = sk_X509_CRL_push(list, crl);
    if (pushed <= 0) X509_CRL_free(crl);
    return pushed;
}
// Frees the list and its references.
static inline void mailsec_sk_X509_CRL_free_all(STACK_OF(X509_CRL) *list) {
    sk_X509_CRL_pop_free(list, X509_CRL_free);
}
static inline int mailsec_sk_X509_OBJECT_num(const STACK_OF(X509_OBJECT) *objects) {
    return sk_X509_OBJECT_num(objects);
}
static inline X509_OBJECT *mailsec_sk_X509_OBJECT_value(const STACK_OF(X509_OBJECT) *objects, int index) {
    return sk_X509_OBJECT_value(objects, index);
}

// nameConstraints: permitted and excluded subtrees are STACK_OF(GENERAL_SUBTREE).
static inline int mailsec_sk_GENERAL_SUBTREE_num(const STACK_OF(GENERAL_SUBTREE) *subtrees) {
    return sk_GENERAL_SUBTREE_num(subtrees);
}
static inline GENERAL_SUBTREE *mailsec_sk_GENERAL_SUBTREE_value(const STACK_OF(GENERAL_SUBTREE) *subtrees, int index) {
    return sk_GENERAL_SUBTREE_value(subtrees, index);
}

// TLS client settings that OpenSSL 3 defines as macros over SSL_ctrl / SSL_CTX_ctrl.
static inline int mailsec_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
static inline int mailsec_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
// A macro over SSL_CTX_ctrl: let a read take whatever the socket holds, not one record header at a time.
static inline void mailsec_SSL_CTX_set_read_ahead(SSL_CTX *ctx, int yes) {
    SSL_CTX_set_read_ahead(ctx, yes);
}

// A BIO of our own carries TLS records over MailSec's socket (send with
// MSG_NOSIGNAL, deadlines, TCP_QUICKACK) instead of OpenSSL's socket BIO,
// which calls write(2) and so raises SIGPIPE when the peer has gone. The
// retry flags it must set are macros over BIO_set_flags / BIO_clear_flags.
static inline void mailsec_BIO_set_retry_read(BIO *bio) {
    BIO_set_retry_read(bio);
}
static inline void mailsec_BIO_set_retry_write(BIO *bio) {
    BIO_set_retry_write(bio);
}
static inline void mailsec_BIO_clear_retry_flags(BIO *bio) {
    BIO_clear_retry_flags(bio);
}

// ERR_GET_REASON is an inline function in OpenSSL 3 but a macro in 1.1; one
// name for both, so TLS failures are told apart by reason code, not text.
static inline int mailsec_ERR_GET_REASON(unsigned long code) {
    return ERR_GET_REASON(code);
}

#endif
