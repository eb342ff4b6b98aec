"""arm64 facts for the GDB lane's check script: the guests' addresses (Sources/KVMDebugCore
BuiltinGuests.swift, PagedCounterArm64.swift) and prog.c's load layout (link-arm64.ld)."""

ARCH = "aarch64"
PC = "pc"  # gdb's name ("$" + PC in expressions)
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
# paged-counter (BuiltinGuests.pagedCounterArm64): MMU on at `enable`; main -> outer -> inner
# increments `counter`, which (with `data`) lives in the TTBR1 range.
PAGED = {
    "entry": 0x10000,
    "after_enable": 0x10040,
    "inner": 0x10074,
    "counter": 0xFFFFFFFFC0000000,   # virtual (TTBR1) ...
    "counter_physical": 0x11000,     # ... and where it is in RAM
    "unmapped": 0xFFFFFFFFC0001000,  # the page after it: not mapped
}

# The keys lanes/gdb/lane-check.py (the shared check script) reads.
SETUP = ["set architecture aarch64"]
MODE = "el1"
SP = "sp"
# Compared at the entry: KVM_ARM_VCPU_INIT's reset state, which the fake models.
REGISTERS = ["x%d" % i for i in range(31)] + ["sp", "pc", "cpsr"]
# QEMU's emulated EL2 and a 16550 make each round trip slow.
TIMEOUT = 60
