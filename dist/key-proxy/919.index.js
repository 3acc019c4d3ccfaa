export const id = 919;
export const ids = [919];
export const modules = {

/***/ 8919:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   relay: () => (/* binding */ relay)
/* harmony export */ });
/* harmony import */ var node_http__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7067);
/* harmony import */ var node_http__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_http__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_https__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(4708);
/* harmony import */ var node_https__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_https__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(7030);
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_net__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var node_tls__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(1692);
/* harmony import */ var node_tls__WEBPACK_IMPORTED_MODULE_3___default = /*#__PURE__*/__webpack_require__.n(node_tls__WEBPACK_IMPORTED_MODULE_3__);
/* harmony import */ var ws__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(2977);
/* harmony import */ var _net_failures_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(6812);
/* harmony import */ var _answers_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(8703);
/* harmony import */ var _usage_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(7125);
/**
 * The key proxy's WebSocket transport: Codex's upgrade on `…/<capability>/v1/responses`,
 * relayed to a websocket of the proxy's own to the upstream, which carries the key. server.ts
 * loads this module (and the ws library) only when the first upgrade arrives.
 *
 * The upstream is asked first and Codex's upgrade is completed only once the upstream has
 * accepted its own: an upstream that refuses (426, 401, a redirect, …) is answered to Codex
 * as it answered, so Codex falls back to HTTP or reports the error as it would talking to
 * that upstream directly. Nothing is followed: a redirect goes back to Codex, without the key.
 * Each message is handled inside a `try`: one message, whatever it holds, ends nothing but itself.
 */








/** Headers of the handshake itself: each leg negotiates its own. */
const HANDSHAKE = /^sec-websocket-(key|version|extensions|protocol|accept)$/;
/** Not relayed back from a refusing upstream: they describe its connection, not its answer. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length']);
/** What is kept of a refusing upstream's body: its error message, not a stream. */
const MAX_REFUSAL_BYTES = 64 * 1024;
/** What Codex is told of a message whose handling failed. */
const FAULT = "codex-auth-action's key proxy could not handle this message, so it did not send it.";
/** Codex's side: no server of its own, only handshakes handed over by server.ts. */
const codexSide = new ws__WEBPACK_IMPORTED_MODULE_4__/* .WebSocketServer */ .zu({
    noServer: true,
    perMessageDeflate: true,
    clientTracking: false,
    // A larger message ends the connection (1009) before it is kept, let alone parsed.
    maxPayload: _usage_js__WEBPACK_IMPORTED_MODULE_7__/* .MAX_MESSAGE */ .h2
});
/**
 * The two directions of one relayed connection. Each message passes through exactly one of
 * these two methods, unbuffered: `toCodex` sees every upstream event (a meter can count
 * tokens there), `toUpstream` every message of Codex's, one `response.create` a turn (a
 * cap can refuse one there).
 */
class Relay {
    codex;
    upstream;
    upgrade;
    /** Codex has gone, and the upstream is read on for the usage it still owes (max-tokens). */
    draining;
    constructor(codex, upstream, upgrade) {
        this.codex = codex;
        this.upstream = upstream;
        this.upgrade = upgrade;
        upstream.on('message', (data, isBinary) => this.toCodex(data, isBinary));
        codex.on('message', (data, isBinary) => this.toUpstream(data, isBinary));
        upstream.on('close', (code, reason) => {
            clearTimeout(this.draining?.timer);
            upgrade.meter.close(true);
            closeLike(codex, code, reason);
        });
        codex.on('close', (code, reason) => {
            if (!upgrade.meter.drains || upgrade.meter.settled || upstream.readyState !== ws__WEBPACK_IMPORTED_MODULE_4__/* .WebSocket */ .kb.OPEN)
                return this.endUpstream(code, reason);
            // A response still owed is read to its end for its usage, within DRAIN_MS and DRAIN_BYTES.
            const timer = setTimeout(() => this.endUpstream(code, reason), _usage_js__WEBPACK_IMPORTED_MODULE_7__/* .DRAIN_MS */ .sc);
            this.draining = { code, reason, timer, bytes: 0 };
        });
        upstream.on('error', () => {
            upgrade.status.upstreamErrors++;
            upgrade.status.lastUpstreamStatus = undefined;
            upgrade.changed();
            codex.terminate();
        });
        codex.on('error', () => upstream.terminate());
    }
    toCodex(data, isBinary) {
        try {
            const message = bytes(data);
            const draining = this.draining;
            if (!draining)
                this.codex.send(message, { binary: isBinary });
            else if ((draining.bytes += message.length) > _usage_js__WEBPACK_IMPORTED_MODULE_7__/* .DRAIN_BYTES */ .di)
                return this.endUpstream(draining.code, draining.reason);
            // Counted after it is on its way: a response's id, its terminal event's usage.
            this.upgrade.meter.fromUpstream(message, isBinary);
            if (draining && this.upgrade.meter.settled)
                this.endUpstream(draining.code, draining.reason);
        }
        catch (error) {
            this.upgrade.fault(error);
        }
    }
    toUpstream(data, isBinary) {
        this.upgrade.status.websocketMessages++;
        this.upgrade.changed();
        try {
            // Only a response.create within the caps goes on, as the bytes that came; anything else is answered here.
            const verdict = this.upgrade.meter.fromCodex(bytes(data), isBinary);
            if ('refuse' in verdict)
                this.codex.send(verdict.refuse);
            else
                this.upstream.send(verdict.forward, { binary: false });
        }
        catch (error) {
            this.upgrade.fault(error);
            this.codex.send((0,_usage_js__WEBPACK_IMPORTED_MODULE_7__/* .refusalEvent */ .Ny)(FAULT));
        }
    }
    /** Ends the upstream's side as Codex ended its own; what is still owed then may have been billed. */
    endUpstream(code, reason) {
        clearTimeout(this.draining?.timer);
        this.upgrade.meter.close(false);
        closeLike(this.upstream, code, reason);
    }
}
/** A message's bytes, whichever form the ws library gave them in. */
function bytes(data) {
    return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
/** Ends `socket` the way its peer ended: the same code, or none where the peer sent none. */
function closeLike(socket, code, reason) {
    if (socket.readyState === ws__WEBPACK_IMPORTED_MODULE_4__/* .WebSocket */ .kb.CLOSED)
        return;
    try {
        // 1005 (no code), 1006 (no close frame) and 1015 (TLS) describe a connection and cannot be sent.
        if (code === 1005 || code === 1006 || code === 1015)
            socket.close();
        else
            socket.close(code, reason);
    }
    catch {
        socket.terminate();
    }
}
/**
 * An agent whose every connection is a CONNECT tunnel through `proxy` (with its user and
 * password, if the URL has them), TLS on top for a wss:// upstream: the ws library then
 * speaks through a corporate proxy as undici's ProxyAgent does for the HTTP path.
 */
function tunnelAgent(proxy, secure, ca) {
    const via = new URL(proxy);
    const agent = secure ? new node_https__WEBPACK_IMPORTED_MODULE_1__.Agent() : new node_http__WEBPACK_IMPORTED_MODULE_0__.Agent();
    const credentials = via.username
        ? `Basic ${Buffer.from(`${decodeURIComponent(via.username)}:${decodeURIComponent(via.password)}`).toString('base64')}`
        : undefined;
    Object.assign(agent, {
        createConnection(options, callback) {
            const target = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
            const connect = (via.protocol === 'https:' ? node_https__WEBPACK_IMPORTED_MODULE_1__ : node_http__WEBPACK_IMPORTED_MODULE_0__).request({
                host: via.hostname.replace(/^\[|\]$/g, ''),
                port: via.port || (via.protocol === 'https:' ? 443 : 80),
                method: 'CONNECT',
                path: target,
                headers: { host: target, ...(credentials && { 'proxy-authorization': credentials }) },
                agent: false,
                ...(ca && { ca })
            });
            connect.once('connect', (res, socket) => {
                if (res.statusCode !== 200) {
                    socket.destroy();
                    return callback(new Error(`the proxy ${via.origin} answered CONNECT with HTTP ${res.statusCode}`));
                }
                if (!secure)
                    return callback(null, socket);
                const servername = (0,node_net__WEBPACK_IMPORTED_MODULE_2__.isIP)(options.host) ? undefined : (options.servername ?? options.host);
                callback(null, node_tls__WEBPACK_IMPORTED_MODULE_3__.connect({ socket, host: options.host, servername, ...(ca && { ca }) }));
            });
            connect.once('error', (error) => callback(error));
            connect.end();
            return undefined;
        }
    });
    return agent;
}
/** Relays one upgrade (see the top of this file). */
function relay(req, socket, head, upgrade) {
    socket.on('error', () => undefined);
    // What ws would refuse on Codex's side, refused before anything goes upstream.
    if (String(req.headers.upgrade).toLowerCase() !== 'websocket' || !req.headers['sec-websocket-key'])
        return (0,_answers_js__WEBPACK_IMPORTED_MODULE_6__/* .refuseUpgrade */ .fi)(socket, 400, 'Not a websocket handshake.');
    const offered = String(req.headers['sec-websocket-extensions'] ?? '').includes('permessage-deflate');
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean);
    const headers = Object.fromEntries(Object.entries(upgrade.headers).filter(([name]) => !HANDSHAKE.test(name)));
    const secure = upgrade.url.startsWith('wss:');
    const upstream = new ws__WEBPACK_IMPORTED_MODULE_4__/* .WebSocket */ .kb(upgrade.url, protocols, {
        headers,
        // Compressed upstream only where Codex asked for it on its own leg: the same bytes as direct.
        perMessageDeflate: offered,
        followRedirects: false,
        ...(upgrade.proxy && { agent: tunnelAgent(upgrade.proxy, secure, upgrade.ca) }),
        ...(upgrade.ca && { ca: upgrade.ca })
    });
    let answered = false;
    // Codex gave up before the upstream answered: so does the proxy.
    const abandoned = () => upstream.terminate();
    socket.once('close', abandoned);
    upstream.once('unexpected-response', (_request, res) => {
        answered = true;
        const status = res.statusCode ?? 502;
        if (status === 401)
            upgrade.refused?.();
        if (status >= 500) {
            upgrade.status.upstreamErrors++;
            upgrade.status.lastUpstreamStatus = status;
        }
        upgrade.changed();
        const out = {};
        for (const [name, value] of Object.entries(res.headersDistinct))
            if (value !== undefined && !HOP_BY_HOP.has(name))
                out[name] = value;
        const chunks = [];
        let size = 0;
        res.on('data', (chunk) => {
            if (size < MAX_REFUSAL_BYTES)
                chunks.push(chunk.subarray(0, MAX_REFUSAL_BYTES - size));
            size += chunk.length;
        });
        const done = () => {
            (0,_answers_js__WEBPACK_IMPORTED_MODULE_6__/* .answerUpgrade */ .lA)(socket, status, out, Buffer.concat(chunks));
            upstream.terminate();
        };
        res.once('end', done);
        res.once('error', done);
    });
    const early = (error) => {
        // Already answered (a refusal, relayed), or nobody left to tell.
        if (answered || socket.destroyed)
            return;
        upgrade.status.upstreamErrors++;
        upgrade.status.lastUpstreamStatus = undefined;
        upgrade.changed();
        (0,_answers_js__WEBPACK_IMPORTED_MODULE_6__/* .refuseUpgrade */ .fi)(socket, 502, `The codex-auth-action key proxy could not reach ${upgrade.origin}: ${(0,_net_failures_js__WEBPACK_IMPORTED_MODULE_5__/* .describeFailure */ .Ic)(error)}.`);
    };
    upstream.on('error', early);
    upstream.once('open', () => {
        if (socket.destroyed)
            return upstream.terminate();
        codexSide.handleUpgrade(req, socket, head, (codex) => {
            socket.off('close', abandoned);
            upstream.off('error', early);
            new Relay(codex, upstream, upgrade);
        });
    });
}


/***/ })

};
