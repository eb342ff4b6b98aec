print("kvmdbg")
