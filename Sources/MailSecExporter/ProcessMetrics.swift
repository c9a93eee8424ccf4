#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import MailSec

/// The standard `process_*` series every Prometheus exporter has, read from
/// the kernel at scrape time (what client_golang's process collector reads).
enum ProcessMetrics {
    static func read(startTime: Date) -> PrometheusText {
        var text = PrometheusText()
        var usage = rusage()
        if getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 {
            let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
            text.add("process_cpu_seconds_total", cpu, help: "Total user and system CPU time spent in seconds.", kind: .counter)
        }
        // statm: sizes in pages; the first is the virtual size, the second resident.
        if let statm = try? SecureFileSystem.readText("/proc/self/statm", limit: 4096, kind: "/proc/self/statm") {
            let fields = statm.split(separator: " ").compactMap { Double($0) }
            let page = Double(sysconf(Int32(_SC_PAGESIZE)))
            if fields.count >= 2 {
                text.add("process_virtual_memory_bytes", fields[0] * page, help: "Virtual memory size in bytes.")
                text.add("process_resident_memory_bytes", fields[1] * page, help: "Resident memory size in bytes.")
            }
        }
        if let descriptors = try? SecureFileSystem.entries(of: "/proc/self/fd") {
            text.add("process_open_fds", Double(descriptors.count), help: "Number of open file descriptors.")
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            text.add("process_max_fds", Double(limit.rlim_cur), help: "Maximum number of open file descriptors.")
        }
        text.add("process_start_time_seconds", startTime.timeIntervalSince1970.rounded(), help: "Start time of the process since unix epoch in seconds.")
        return text
    }
}
