import Foundation

/// One result slot per iteration of `DispatchQueue.concurrentPerform`: each
/// iteration writes only its own index, so no lock is needed; read the values
/// after the parallel loop has returned.
public final class ParallelSlots<Value>: @unchecked Sendable {
    private var storage: [Value]

    public init(count: Int, initial: Value) { storage = Array(repeating: initial, count: count) }

    public subscript(index: Int) -> Value {
        get { storage[index] }
        set { storage.withUnsafeMutableBufferPointer { $0[index] = newValue } }
    }

    public var values: [Value] { storage }
}

/// The first error thrown by any worker of a concurrent loop.
public final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    private var flag = false

    public init() {}

    public var isSet: Bool { lock.lock(); defer { lock.unlock() }; return flag }
    public var error: Error? { lock.lock(); defer { lock.unlock() }; return stored }

    public func record(_ error: Error) {
        lock.lock(); defer { lock.unlock() }
        if stored == nil { stored = error }
        flag = true
    }
}

/// A value the workers of a concurrent loop share without a lock because they only read it or
/// touch disjoint parts of it (a pointer to an input, buffers owned one per worker).
struct WorkerShared<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
