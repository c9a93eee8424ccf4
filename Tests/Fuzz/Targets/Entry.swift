import CFuzzer
import Glibc

/// libFuzzer calls this with each input; it runs the target named by
/// MAILSEC_FUZZ_TARGET. A crash, a leak, a timeout or an out-of-memory is
/// what libFuzzer reports; an error the parser throws is a correct answer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    FuzzTargets.selected(input)
    return 0
}

/// The entry point SwiftPM aliases `main` to (see the CFuzzer shim).
@_cdecl("mailsec_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    let name = getenv("MAILSEC_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    if name == "list" {
        for target in FuzzTargets.all.keys.sorted() { print(target) }
        return 0
    }
    guard FuzzTargets.all[name] != nil else {
        let known = FuzzTargets.all.keys.sorted().joined(separator: " ")
        let message = Array("mailsec-fuzz: set MAILSEC_FUZZ_TARGET to one of: \(known)\n".utf8)
        _ = write(2, message, message.count)
        return 2
    }
    FuzzTargets.select(name)
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector, fuzzOneInput)
}
