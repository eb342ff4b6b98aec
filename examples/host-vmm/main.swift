print("host-vmm")
