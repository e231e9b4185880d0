// LoopbackHTTP
