/// Defaults for backends that cannot protect pages (a host VMM's adapter, test doubles):
/// protection watchpoints are then refused with the reason, never accepted silently.
extension DebugBackend {
    public var pageProtectionUnavailable: String? { "this backend cannot change guest memory slots" }

    public func setPageProtection(_ protection: PageProtection, page: UInt64) throws(DebugError) {
        throw .unsupported(reason: pageProtectionUnavailable ?? "page protection is not implemented by this backend")
    }

    public func restoreMemorySlots() throws(DebugError) {}

    public func mmioData(vcpu: Int, length: Int) -> [UInt8] { [] }

    public func setMMIOData(_ bytes: [UInt8], vcpu: Int) {}
}
