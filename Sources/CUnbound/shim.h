#ifndef MAILSEC_CUNBOUND_SHIM_H
#define MAILSEC_CUNBOUND_SHIM_H

// libunbound (Debian: libunbound-dev): a validating DNS resolver in a
// library, the one Postfix's DANE support is usually paired with. It checks
// DNSSEC itself, so MailSec can say secure, insecure or bogus (and why)
// without trusting whatever resolver the AD bit came from.
#include <unbound.h>

#endif
