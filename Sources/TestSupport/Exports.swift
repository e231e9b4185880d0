// Tests importing TestSupport get the loopback server, client, TLS, JWT and subprocess helpers too.
@_exported import LoopbackHTTP
