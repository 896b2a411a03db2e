export { createLinkServer, startLinkServer, closeLinkServer, isLoopbackHost, type LinkServer, type ServerOptions } from "./link-server.js";
export type { LinkRequest, LinkRequestLimits } from "./link-request.js";
