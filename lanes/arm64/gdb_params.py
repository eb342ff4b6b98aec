"""arm64 facts for the GDB lane's check script: the guests' addresses (Sources/KVMDebugCore
BuiltinGuests.swift, PagedCounterArm64.swift) and prog.c's load layout (link-arm64.ld)."""

ARCH = "aarch64"
PC = "$pc"
# The register gdb shows for vCPU n's boot index (the boot convention puts it in X0).
INDEX_REGISTER = "$x0"
# smp-counter (BuiltinGuests.smpCounterArm64): code at 0x10000.
SMP = {
    "entry": 0x10000,
    "loop": 0x1000C,
    "store": 0x10010,
    "load": 0x10014,
    "jump": 0x10018,
    "counters": 0x12000,   # vCPU i's word at counters + 8 * i, written by `store`
    "data": 0x11008,       # read by `load` (BuiltinGuests.dataPattern)
    "scratch": 0x11010,    # RAM nobody uses: memory write checks
    "data_pattern": 0x1122334455667788,
    "insn_size": 4,
}
# paged-counter (BuiltinGuests.pagedCounterArm64): MMU on at `enable`, loop after it.
PAGED = {
    "entry": 0x10000,
    "after_enable": 0x10040,
    "loop": 0x10050,
    "store": 0x10054,
    "counter": 0x11000,
    "alias": 0xFFFFFFFFC0000000,  # TTBR1's virtual alias of counter's page
}
