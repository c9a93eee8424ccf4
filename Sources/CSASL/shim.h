#ifndef MAILSEC_CSASL_SHIM_H
#define MAILSEC_CSASL_SHIM_H

// Cyrus SASL (Debian: libsasl2-dev). sasl.h expects size_t and friends
// to be declared before it is included.
#include <stddef.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#endif
