#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
import Glibc
import Logging
import MailSec
import NIOCore
import NIOHTTP1
import NIOPosix

/// HTTP/1.1 on SwiftNIO in front of an `Exporter`.
///
/// The event loop only parses requests and writes answers; every probe runs
/// on a thread pool of `concurrency` threads, because the library's probes
/// are synchronous code with deadlines of their own. So one slow target
/// never holds up another scrape, `/metrics` or the status page.
public enum ExporterServer {
    /// Serves until SIGTERM or SIGINT, re-reading the modules on SIGHUP. On
    /// the way out no new probe is admitted, the admitted ones finish (each has
    /// its deadline), their answers are written, and it returns.
    public static func run(_ exporter: Exporter, host: String, port: Int, logger: Logger,
                           onListening: (String) -> Void = { _ in }) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: exporter.settings.concurrency)
        pool.start()
        defer {
            try? pool.syncShutdownGracefully()
            try? group.syncShutdownGracefully()
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A connection that sends nothing for a minute (and waits
                    // for no probe) is closed: idle sockets cost descriptors.
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(60)))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ExporterHTTPHandler(exporter: exporter, pool: pool))
                }
            }
        let channel: Channel
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            throw MailSecError(.io, "cannot listen on \(host):\(port): \(error)", remedy: "pick a free port with --listen ADDRESS:PORT")
        }
        let bound = channel.localAddress.map { "\($0.ipAddress ?? host):\($0.port ?? port)" } ?? "\(host):\(port)"
        logger.info("listening on \(bound) with \(exporter.configuration.modules.count) modules, \(exporter.settings.concurrency) probes at once")
        onListening(bound)

        let signals = DispatchQueue(label: "mailsec.exporter.signals")
        let stop = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for number in [SIGHUP, SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: signals)
            source.setEventHandler {
                if number == SIGHUP { try? exporter.reload() } else { stop.signal() }
            }
            source.resume()
            sources.append(source)
        }
        stop.wait()
        logger.info("stopping: \(exporter.probesOutstanding) probes to finish")
        exporter.beginShutdown()
        try? channel.close().wait()
        while exporter.probesOutstanding > 0 { usleep(20_000) }
        // The last answers are written on the event loop after their probe returns.
        try? group.next().submit {}.wait()
        usleep(50_000)
        for source in sources { source.cancel() }
        logger.info("stopped")
    }
}

/// One connection: a request's head and end arrive, its answer goes back in
/// order (NIO's pipelining handler holds later requests until then). Bodies
/// are ignored, never buffered.
final class ExporterHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let exporter: Exporter
    private let pool: NIOThreadPool
    private var head: HTTPRequestHead?
    private var waitingForProbe = false

    init(exporter: Exporter, pool: NIOThreadPool) {
        self.exporter = exporter
        self.pool = pool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            let headers = head.headers.map { (name: $0.name, value: $0.value) }
            switch exporter.route(method: head.method.rawValue, uri: head.uri, headers: headers) {
            case .immediate(let response):
                respond(context: context, head: head, response)
            case .probe(let work):
                waitingForProbe = true
                pool.runIfActive(eventLoop: context.eventLoop, work).assumeIsolated().whenComplete { result in
                    self.waitingForProbe = false
                    switch result {
                    case .success(let response): self.respond(context: context, head: head, response)
                    case .failure: self.respond(context: context, head: head, Exporter.Response(status: 503, contentType: "text/plain; charset=utf-8", body: Array("shutting down\n".utf8)))
                    }
                }
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if !waitingForProbe { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, _ response: Exporter.Response) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "Cache-Control", value: "no-store")
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        let responseHead = HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !head.isKeepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
