// The fuzzer's main, in C because SwiftPM links an executable target's main as
// `kvmdbg_fuzz_main`: this one hands the process to libFuzzer's driver with the Swift entry
// point (FuzzEntry.swift), as libFuzzer's own main would.
#include "fuzz_main.h"

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const unsigned char *, size_t));
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int kvmdbg_fuzz_main(int argc, char **argv) {
    return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
}
