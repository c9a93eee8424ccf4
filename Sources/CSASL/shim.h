#ifndef MAILSEC_CSASL_SHIM_H
#define MAILSEC_CSASL_SHIM_H

// Cyrus SASL (Debian: libsasl2-dev). sasl.h expects size_t and friends
// to be declared before it is included.
#include <stddef.h>
#include <string.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>

// libsasl2 takes callbacks as `int (*)(void)` and casts them back to their
// real signatures by id. These typed adapters do that cast in C, where it is
// idiomatic, and read what Swift put in the context structs. All prefixed
// `mailsec_`.

// A client's identity for one connection. The secret is owned by Swift,
// which wipes and frees it after the exchange.
typedef struct mailsec_sasl_identity {
    const char *authentication_name;   // SASL_CB_AUTHNAME: who logs in
    const char *authorization_name;    // SASL_CB_USER: who to act as ("" = same)
    sasl_secret_t *secret;             // SASL_CB_PASS
    const char *realm;                 // SASL_CB_GETREALM; NULL = the server's first
} mailsec_sasl_identity;

static int mailsec_sasl_get_name(void *context, int id, const char **result, unsigned *length) {
    const mailsec_sasl_identity *identity = (const mailsec_sasl_identity *)context;
    if (!identity || !result) return SASL_BADPARAM;
    const char *value = id == SASL_CB_USER ? identity->authorization_name : identity->authentication_name;
    *result = value;
    if (length) *length = value ? (unsigned)strlen(value) : 0;
    return SASL_OK;
}

static int mailsec_sasl_get_secret(sasl_conn_t *connection, void *context, int id, sasl_secret_t **secret) {
    (void)connection; (void)id;
    const mailsec_sasl_identity *identity = (const mailsec_sasl_identity *)context;
    if (!identity || !secret || !identity->secret) return SASL_BADPARAM;
    *secret = identity->secret;
    return SASL_OK;
}

static int mailsec_sasl_get_realm(void *context, int id, const char **available, const char **result) {
    (void)id;
    const mailsec_sasl_identity *identity = (const mailsec_sasl_identity *)context;
    if (!result) return SASL_BADPARAM;
    *result = (identity && identity->realm) ? identity->realm : (available && available[0] ? available[0] : NULL);
    return SASL_OK;
}

// Fills the five callbacks of a client connection (the last is the end marker).
static inline void mailsec_sasl_client_callbacks(sasl_callback_t callbacks[5], mailsec_sasl_identity *identity) {
    callbacks[0].id = SASL_CB_AUTHNAME; callbacks[0].proc = (int (*)(void))mailsec_sasl_get_name;   callbacks[0].context = identity;
    callbacks[1].id = SASL_CB_USER;     callbacks[1].proc = (int (*)(void))mailsec_sasl_get_name;   callbacks[1].context = identity;
    callbacks[2].id = SASL_CB_PASS;     callbacks[2].proc = (int (*)(void))mailsec_sasl_get_secret; callbacks[2].context = identity;
    callbacks[3].id = SASL_CB_GETREALM; callbacks[3].proc = (int (*)(void))mailsec_sasl_get_realm;  callbacks[3].context = identity;
    callbacks[4].id = SASL_CB_LIST_END; callbacks[4].proc = NULL; callbacks[4].context = NULL;
}

// Where libsasl2 looks for plugins (SASL_CB_GETPATH) and for APP.conf
// (SASL_CB_GETCONFPATH): the context is a colon-separated list of directories.
static int mailsec_sasl_get_path(void *context, const char **path) {
    if (!path) return SASL_BADPARAM;
    *path = (const char *)context;
    return SASL_OK;
}

// Fills the global callbacks for sasl_client_init/sasl_server_init: a plugin
// path and a config path when given (NULL keeps libsasl2's defaults).
static inline void mailsec_sasl_global_callbacks(sasl_callback_t callbacks[3], const char *plugin_path, const char *config_path) {
    int index = 0;
    if (plugin_path) {
        callbacks[index].id = SASL_CB_GETPATH; callbacks[index].proc = (int (*)(void))mailsec_sasl_get_path; callbacks[index].context = (void *)plugin_path; index++;
    }
    if (config_path) {
        callbacks[index].id = SASL_CB_GETCONFPATH; callbacks[index].proc = (int (*)(void))mailsec_sasl_get_path; callbacks[index].context = (void *)config_path; index++;
    }
    callbacks[index].id = SASL_CB_LIST_END; callbacks[index].proc = NULL; callbacks[index].context = NULL;
}

#endif
