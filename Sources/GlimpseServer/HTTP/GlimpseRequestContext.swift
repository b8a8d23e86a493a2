import Hummingbird
import Logging
import NIOCore

/// Per-request context: the channel (to answer `Expect: 100-continue` early) and the logger
/// carrying the request id.
public struct GlimpseRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}
