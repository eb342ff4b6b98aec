#include <stddef.h>

/// main() of kvmdbg-fuzz: libFuzzer's driver over LLVMFuzzerTestOneInput.
int kvmdbg_fuzz_main(int argc, char **argv);
