# x86_64 facts for lanes/gdb/lane-check.py (its header documents each name).
SETUP = []
MODE = "long"
PC, SP = "rip", "rsp"
# The entry state kvmdbg's boot code gives a long-mode guest: RDI = vCPU index, flat segments.
REGISTERS = ["rdi", "rax", "eflags", "cs", "ss", "ds",
             # x87/SSE from the XSAVE area, the guest's own DR6/DR7 (KVM_GET_DEBUGREGS)
             "xmm0.v2_int64[0]", "xmm15.v2_int64[1]", "mxcsr", "fctrl", "ftag", "st0", "dr6", "dr7"]
# paged-counter maps pagedBase .. +0x3000; the next page is not mapped.
PAGED = {"unmapped": 0xFFFFFFFF80003000}
TIMEOUT = 30
