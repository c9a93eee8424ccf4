import Foundation
import Glibc
@testable import MailSec
import Testing

/// Who holds a listening socket, when children inherit it (Postfix's smtpd
/// processes hold their master's): the holder whose parent does not hold it.
@Suite struct ListeningSocketsTests {
    @Test func theOwnerIsTheHolderWhoseParentDoesNotHoldItWhateverThePidOrder() {
        // pids wrap: master 30000 forked smtpd 120 and 4000.
        let parents: [Int32: Int32] = [120: 30000, 4000: 30000, 30000: 1]
        #expect(ListeningSockets.rootHolder([120, 4000, 30000], parent: { parents[$0] }) == 30000)
        #expect(ListeningSockets.rootHolder([30000, 120], parent: { parents[$0] }) == 30000)
        // Two unrelated holders (SO_REUSEPORT): the first, as before.
        #expect(ListeningSockets.rootHolder([7, 9], parent: { _ in 1 }) == 7)
        // A process gone between the walk and the look at its parent.
        #expect(ListeningSockets.rootHolder([120, 30000], parent: { $0 == 120 ? nil : 1 }) == 120)
    }

    @Test func theParentIsReadAfterTheCommandNameWhateverItHolds() {
        #expect(ListeningSockets.parent(of: getpid()) == getppid())
    }
}
