import Dispatch
import Synchronization

/// Runs blocking work (network probes with deadlines) on up to `concurrency`
/// threads at once, keeping the results in input order.
package enum BoundedPool {
    package static func map<Input: Sendable, Output: Sendable>(_ inputs: [Input], concurrency: Int,
                                                              _ body: @escaping @Sendable (Input) -> Output) -> [Output] {
        let results = Mutex<[Int: Output]>([:])
        // A private concurrent queue may start a thread per blocked task; the
        // semaphore keeps that at `concurrency`.
        let queue = DispatchQueue(label: "mailsec.pool", attributes: .concurrent)
        let slots = DispatchSemaphore(value: max(1, concurrency))
        let group = DispatchGroup()
        for (index, input) in inputs.enumerated() {
            slots.wait()
            queue.async(group: group) {
                let output = body(input)
                results.withLock { $0[index] = output }
                slots.signal()
            }
        }
        group.wait()
        return results.withLock { stored in inputs.indices.map { stored[$0]! } }
    }

    /// Runs two pieces of blocking work at once and returns both results.
    package static func concurrently<A: Sendable, B: Sendable>(_ first: @escaping @Sendable () -> A,
                                                             _ second: @escaping @Sendable () -> B) -> (A, B) {
        let other = Mutex<B?>(nil)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { other.withLock { $0 = second() } }
        let mine = first()
        group.wait()
        return (mine, other.withLock { $0! })
    }
}
