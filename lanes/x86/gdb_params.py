# x86_64 facts for lanes/gdb/lane-check.py (its header documents each name).
SETUP = []
MODE = "long"
PC, SP = "rip", "rsp"
# The entry state kvmdbg's boot code gives a long-mode guest: RDI = vCPU index, flat segments.
REGISTERS = ["rdi", "rax", "eflags", "cs", "ss", "ds",
             # x87/SSE from the XSAVE area, the guest's own DR6/DR7 (KVM_GET_DEBUGREGS)
             "xmm0.v2_int64[0]", "xmm15.v2_int64[1]", "mxcsr", "fctrl", "ftag", "st0", "dr6", "dr7"]
# paged-counter maps pagedBase .. +0x3000; the next page is not mapped.
# DR1/DR2 get canonical addresses with no DR7 enable (they never reach a comparator).
WRITTEN = [("xmm1.v2_int64[0]", 0x1122334455667788), ("xmm14.v2_int64[1]", 0x0877665544332211),
           ("dr1", 0x3F1000), ("dr2", 0x3F2000)]
PAGED = {"unmapped": 0xFFFFFFFF80003000}
TIMEOUT = 30
# Watches served by memory protection (counter/protection-*): fillers at UNUSED_DATA (a word
# of the counter guest's RAM nothing accesses) take DR0-DR3 first.
PROTECTION = True
UNUSED_DATA = 0x1F800
WATCH_SLOTS = 4
