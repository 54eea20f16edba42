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
