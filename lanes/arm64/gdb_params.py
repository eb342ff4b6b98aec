# arm64 facts for lanes/gdb/lane-check.py (its header documents each name); the guests are
# Sources/KVMDebugGuests/BuiltinGuests.swift and PagedCounterArm64.swift.
SETUP = ["set architecture aarch64"]
MODE = "el1"
PC, SP = "pc", "sp"
# Compared after PC and SP: KVM_ARM_VCPU_INIT's reset state (X0 = the vCPU index by kvmdbg's
# boot convention), which the fake models: every general register and PSTATE.
REGISTERS = ["x%d" % i for i in range(31)] + ["cpsr"] + [
    # FP/SIMD (ONE_REG fp_regs ids) and the guest's own debug registers (ONE_REG sysreg ids):
    # an id KVM rejects would read as <unavailable> and differ from the fake.
    "v0.d.u[0]", "v31.d.u[1]", "fpsr", "fpcr", "dbgbcr0_el1", "dbgbvr0_el1", "dbgwcr0_el1", "dbgwvr0_el1", "mdscr_el1"]
# paged-counter maps one TTBR1 page at 0xffffffffc0000000 (counter, data); the next is not mapped.
# Values the hardware keeps as written (no RES0 bits: FPSR would drop some after a run).
WRITTEN = [("v1.d.u[0]", 0x1122334455667788), ("v30.d.u[1]", 0x8877665544332211),
           ("dbgbvr1_el1", 0x3F1000), ("dbgwvr1_el1", 0x3F2000)]
# The lane's QEMU `-cpu max` has SVE, so kvmdbg's vCPUs there get it (KVM_CAP_ARM_SVE): counter/sve.
SVE = True
PAGED = {"unmapped": 0xFFFFFFFFC0001000}
# Round trips through QEMU's emulated EL2 and a 16550 are slow.
TIMEOUT = 60
# Watches served by memory protection (counter/protection-*): fillers at UNUSED_DATA take the
# 4 watchpoint registers of the fake and of the lane's QEMU `-cpu max`.
PROTECTION = True
UNUSED_DATA = 0x1F800
WATCH_SLOTS = 4
