import ConvEmerge

/// A comma-separated list of numbers: every item must parse and pass `accept`; an empty item
/// ("1,,2") is an error, not a value silently dropped.
func parseNumberList(_ text: String, flag: String, expected: String, count: Int? = nil,
                     accept: (Double) -> Bool) throws -> [Double] {
    let items = text.split(separator: ",", omittingEmptySubsequences: false)
    let values = items.map { Double($0.trimmingCharacters(in: .whitespaces)) }
    guard !text.isEmpty, count.map({ $0 == values.count }) ?? true,
          values.allSatisfy({ $0.map(accept) ?? false }) else {
        throw ConvEmergeError.invalidInput(flag: flag, message: "must be \(expected), got '\(text)'")
    }
    return values.map { $0! }
}

/// An option ArgumentParser treats as optional so that an unknown option is reported first;
/// its absence is then reported here.
func required<T>(_ value: T?, flag: String, _ what: String) throws -> T {
    guard let value else { throw ConvEmergeError.invalidInput(flag: flag, message: "is required: \(what)") }
    return value
}
