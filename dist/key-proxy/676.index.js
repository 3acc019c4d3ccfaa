export const id = 676;
export const ids = [676];
export const modules = {

/***/ 3676:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  HttpClient: () => (/* binding */ HttpClient),
  checkPlainHttp: () => (/* binding */ checkPlainHttp),
  isRetriable: () => (/* binding */ isRetriable),
  networkError: () => (/* binding */ networkError),
  parseRetryAfter: () => (/* binding */ parseRetryAfter),
  retryDelay: () => (/* binding */ retryDelay)
});

// EXTERNAL MODULE: ./node_modules/@actions/core/lib/core.js + 19 modules
var core = __webpack_require__(1900);
// EXTERNAL MODULE: ./node_modules/undici/index.js
var undici = __webpack_require__(6752);
;// CONCATENATED MODULE: ./src/job/errors.ts
/**
 * A failure the user can fix. Its message is shown as it is, as the step's one
 * `::error::` line: it says what is wrong (naming the input) and what to do, and never
 * holds a secret.
 */
class UserError extends Error {
    name = 'UserError';
}
/** The one line a failure is reported with: ours as written, anything else as a bug. */
function errorLine(error) {
    if (error instanceof UserError)
        return error.message;
    const message = error instanceof Error ? error.message : String(error);
    return `Unexpected failure: ${message}. This is a bug in codex-auth-action; please report it with the step's log.`;
}

// EXTERNAL MODULE: ./src/secrets/inert-output.ts
var inert_output = __webpack_require__(831);
// EXTERNAL MODULE: ./src/net/failures.ts
var failures = __webpack_require__(6812);
// EXTERNAL MODULE: ./src/net/proxy-rules.ts + 1 modules
var proxy_rules = __webpack_require__(4928);
;// CONCATENATED MODULE: ./src/net/http.ts






const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
const MAX_ATTEMPTS = 4;
const BASE_DELAY_MS = 1_000;
const MAX_DELAY_MS = 15_000;
/** No retry starts once this much time has gone into one request. */
const RETRY_BUDGET_MS = 120_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const RETRIABLE_CODES = new Set([
    'ECONNRESET',
    'ECONNREFUSED',
    'ETIMEDOUT',
    'EPIPE',
    'EAI_AGAIN',
    'ENETUNREACH',
    'EHOSTUNREACH',
    'UND_ERR_SOCKET',
    'UND_ERR_CONNECT_TIMEOUT',
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_BODY_TIMEOUT',
    'UND_ERR_CLOSED'
]);
/** Headers that carry a credential: authorization, api-key and the like. */
const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie)$|key|token|secret/i;
function isRetriable(error) {
    if (error instanceof failures/* HttpStatusError */.F9)
        return error.status === 408 || error.status === 429 || error.status >= 500;
    const code = (0,failures/* errorCode */.CA)(error);
    return code !== undefined && RETRIABLE_CODES.has(code);
}
/** The retry delay after `attempt` failures: the server's Retry-After, or jittered exponential backoff. */
function retryDelay(attempt, error, random = Math.random) {
    if (error instanceof failures/* HttpStatusError */.F9 && error.retryAfterMs !== undefined)
        return Math.min(error.retryAfterMs, MAX_DELAY_MS);
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
function parseRetryAfter(value, now = Date.now()) {
    const raw = Array.isArray(value) ? value[0] : value;
    if (!raw)
        return undefined;
    if (/^\d+$/.test(raw.trim()))
        return Number(raw.trim()) * 1000;
    const date = Date.parse(raw);
    return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
/**
 * The one rule for every endpoint an input names: plain http that stays on this machine
 * (a loopback host, reached directly or through a loopback proxy) is fine. Beyond it,
 * anyone on the path can read and alter the traffic: a warning that says so, and a
 * refusal, before anything is sent, when a secret would travel that way.
 */
function checkPlainHttp(input, url, risk) {
    const target = new URL(url);
    if (target.protocol !== 'http:')
        return;
    const proxy = (0,proxy_rules/* proxyFor */.iJ)(target);
    const hop = proxy && URL.canParse(proxy) ? new URL(proxy) : undefined;
    if ((0,proxy_rules/* isLoopback */.U9)(target) && (!proxy || (hop && (0,proxy_rules/* isLoopback */.U9)(hop))))
        return;
    const where = (0,proxy_rules/* isLoopback */.U9)(target)
        ? `${input} ${target.origin} is plain http through the proxy ${hop?.host ?? 'in HTTP_PROXY'}, beyond this machine`
        : `${input} ${target.origin} is plain http to a host other than this machine`;
    if (risk.sent) {
        throw new UserError(`${where}, so ${risk.secret} would travel in cleartext; nothing was sent. Use an https address for ${input}.`);
    }
    core/* warning */.$e(`${where}: ${risk.secret} would travel in cleartext if it were sent, and ${risk.answers}. Use an https address for ${input}.`);
}
/** HTTP GETs that honour proxies and extra CAs, retry what may recover, and report what the user can fix. */
class HttpClient {
    options;
    dispatchers = new Map();
    constructor(options = {}) {
        this.options = options;
    }
    /** The connection pool for `url`: through its proxy when one applies, trusting the CA list. The key proxy forwards with it too. */
    dispatcherFor(url) {
        const proxy = (0,proxy_rules/* proxyFor */.iJ)(url);
        const key = proxy ?? '';
        let dispatcher = this.dispatchers.get(key);
        if (!dispatcher) {
            const tls = this.options.ca ? { ca: this.options.ca } : {};
            const idle = this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
            const timeouts = { headersTimeout: idle, bodyTimeout: idle, connectTimeout: idle };
            dispatcher = proxy
                ? new undici.ProxyAgent({ uri: proxy, requestTls: tls, proxyTls: tls, ...timeouts })
                : new undici.Agent({ connect: { ...tls, timeout: idle }, ...timeouts });
            this.dispatchers.set(key, dispatcher);
        }
        return dispatcher;
    }
    /** One request (a GET unless `send` says otherwise); a non-2xx status becomes an HttpStatusError holding the start of the body. */
    async open(url, headers = {}, send = { method: 'GET' }) {
        const target = new URL(url);
        const auth = this.options.authOrigin === target.origin ? this.options.authHeaders : undefined;
        const response = await (0,undici.request)(target, {
            method: send.method,
            body: send.body,
            headers: { 'user-agent': 'codex-auth-action', ...auth, ...headers },
            dispatcher: this.dispatcherFor(target),
            // A request that carries the caller's own credential is never redirected: undici drops
            // only authorization and cookies on another origin, and Azure's key travels as api-key.
            maxRedirections: Object.keys(headers).some((name) => CREDENTIAL_HEADER.test(name)) ? 0 : 5
        });
        if (response.statusCode < 200 || response.statusCode >= 300) {
            const body = await response.body.text().then((text) => text.slice(0, 4096), () => '');
            throw new failures/* HttpStatusError */.F9(url, response.statusCode, parseRetryAfter(response.headers['retry-after']), body, response.headers);
        }
        return { body: response.body, headers: response.headers };
    }
    async getJson(url, headers = {}) {
        return this.withRetries(`GET ${url}`, async () => {
            const response = await this.open(url, { accept: 'application/json', ...headers });
            return (await response.body.json());
        });
    }
    /**
     * Runs `attempt` until it succeeds, fails for good, or the attempts or the time budget
     * are spent; logs each retry. `retry429: false` for a check whose 429 is an answer.
     */
    async withRetries(what, attempt, options = {}) {
        const started = Date.now();
        for (let n = 1;; n++) {
            try {
                return await attempt();
            }
            catch (error) {
                const delay = retryDelay(n, error);
                const answered = options.retry429 === false && error instanceof failures/* HttpStatusError */.F9 && error.status === 429;
                if (answered || n >= MAX_ATTEMPTS || !isRetriable(error) || Date.now() - started + delay > RETRY_BUDGET_MS)
                    throw error;
                core/* info */.pq(`${(0,inert_output/* inline */.m)(what)} failed (${(0,inert_output/* inline */.m)((0,failures/* describeFailure */.Ic)(error))}); retrying in ${(delay / 1000).toFixed(1)} s (attempt ${n + 1} of ${MAX_ATTEMPTS})`);
                await sleep(delay);
            }
        }
    }
    async close() {
        await Promise.all([...this.dispatchers.values()].map((d) => d.close().catch(() => undefined)));
    }
}
/** Wraps a network failure that survived the retries as a UserError that says what to check. */
function networkError(what, error, hint) {
    return new UserError(`${what} failed: ${(0,failures/* describeFailure */.Ic)(error)}. ${hint}`);
}


/***/ })

};
