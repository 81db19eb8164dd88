import Metrics
import NIOCore

/// Closes a connection on which, for `PortailApplication.Configuration.stalledAfter` (60 s), nothing was
/// read and no write completed: a download whose reader stopped reading (a phone gone off the network holds
/// its TCP connection for a quarter of an hour), or a connection opened and left silent. Until then an
/// export streaming to it would hold its connection of the pool and its place among the exports; closed,
/// the export stops, its transaction ends and both are given back. A slow reader is not cut: each write
/// that completes, however small, starts the time again; nor is an upload that keeps arriving.
enum StalledConnections {
    static func handlers(after timeout: TimeAmount) -> [any RemovableChannelHandler] {
        [IdleStateHandler(allTimeout: timeout), Closer()]
    }

    final class Closer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard case IdleStateHandler.IdleStateEvent.all = event else {
                context.fireUserInboundEventTriggered(event)
                return
            }
            Counter(label: "portail_http_stalled_connections_closed_total").increment()
            context.close(promise: nil)
        }
    }
}
