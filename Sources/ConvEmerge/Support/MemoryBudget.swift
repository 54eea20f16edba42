import Foundation

/// Every allocation that grows with a flag is checked here before it is made, so that an
/// absurd value ends in one line naming the flag instead of a runtime trap.
public enum MemoryBudget {
    /// Bytes the process may still take: MemAvailable of /proc/meminfo (the kernel's estimate of
    /// what can be allocated without swapping), or CONVEMERGE_MEMORY_LIMIT (bytes) if set lower.
    public static var availableBytes: Int {
        var available = Int.max
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kiB = Int(line.split(separator: " ").dropFirst().first ?? "") {
            available = kiB * 1024
        }
        if let limit = ProcessInfo.processInfo.environment["CONVEMERGE_MEMORY_LIMIT"].flatMap({ Int($0) }), limit > 0 {
            available = min(available, limit)
        }
        return available
    }

    /// The product of `factors` (counts and a size in bytes), or nil if it overflows Int.
    public static func product(_ factors: Int...) -> Int? {
        var total = 1
        for factor in factors {
            guard factor >= 0 else { return nil }
            let (value, overflow) = total.multipliedReportingOverflow(by: factor)
            if overflow { return nil }
            total = value
        }
        return total
    }

    /// Throws, naming `flag`, unless `bytes` (nil: overflowed) fits in 90% of the available memory.
    public static func require(_ bytes: Int?, flag: String, for what: String) throws {
        let available = availableBytes
        guard let bytes, Double(bytes) <= 0.9 * Double(available) else {
            let needed = bytes.map(format) ?? "more than 2^63 bytes"
            throw ConvEmergeError.invalidInput(flag: flag, message: "\(what) would need \(needed), but \(format(available)) of memory is available; choose a smaller value")
        }
    }

    /// Sums of checked products: nil if any term is nil or the sum overflows.
    public static func sum(_ terms: Int?...) -> Int? {
        var total = 0
        for term in terms {
            guard let term else { return nil }
            let (value, overflow) = total.addingReportingOverflow(term)
            if overflow { return nil }
            total = value
        }
        return total
    }

    public static func format(_ bytes: Int) -> String {
        if bytes == Int.max { return "unlimited" }
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes), unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes) bytes" : "\(String(format: "%.1f", value)) \(units[unit])"
    }
}
