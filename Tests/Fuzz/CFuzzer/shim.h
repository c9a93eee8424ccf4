#ifndef MAILSEC_CFUZZER_SHIM_H
#define MAILSEC_CFUZZER_SHIM_H

// libFuzzer's driver, from the compiler's runtime (libclang_rt.fuzzer), which
// `-sanitize=fuzzer` links. SwiftPM names an executable's entry point
// `<module>_main` and aliases `main` to it, so the fuzz binary cannot let
// libFuzzer provide `main`: it defines the entry point itself and hands over
// to this function, which parses libFuzzer's flags and runs the loop.
// No header of libFuzzer's declares it, hence this one line.

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
