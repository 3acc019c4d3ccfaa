export const id = 382;
export const ids = [382];
export const modules = {

/***/ 4382:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   bedrockAuthorizer: () => (/* binding */ bedrockAuthorizer),
/* harmony export */   explainRefusal: () => (/* binding */ explainRefusal)
/* harmony export */ });
/* unused harmony export BEDROCK_SERVICE */
/* harmony import */ var _aws_crypto_sha256_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(3156);
/* harmony import */ var _aws_crypto_sha256_js__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(_aws_crypto_sha256_js__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _smithy_signature_v4__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(5118);
/**
 * Amazon Bedrock for the key proxy: how a request Codex sent becomes one Bedrock accepts
 * (docs/amazon-bedrock-protocol.md). Bedrock's OpenAI-compatible endpoint ("Mantle") takes
 * the Responses API with a Bedrock API key as a bearer, or signed with SigV4 for the
 * service `bedrock-mantle`. The signing is the AWS SDK's own (@smithy/signature-v4).
 */


/** The SigV4 service name of Bedrock's OpenAI-compatible endpoint, as Codex 0.171.0 signs for it. */
const BEDROCK_SERVICE = 'bedrock-mantle';
/** Codex's legacy header, which Mantle does not keep (Codex drops it before signing too). */
const NOT_PRESERVED = 'session_id';
/**
 * SigV4 covers only what the proxy itself decides (the host, the body through its hash, its
 * content type): Codex's other headers go along unsigned, so that nothing on the way (a
 * corporate proxy that adds or rewrites a header) can break the signature.
 */
const SIGNED = ['content-type'];
function bedrockAuthorizer(upstream) {
    const { auth } = upstream;
    if (auth.kind === 'bearer')
        return async (_url, _method, headers) => {
            const out = { ...headers, authorization: `Bearer ${auth.key}` };
            delete out[NOT_PRESERVED];
            return out;
        };
    const signer = new _smithy_signature_v4__WEBPACK_IMPORTED_MODULE_1__/* .SignatureV4 */ .BB({
        service: BEDROCK_SERVICE,
        region: upstream.region,
        credentials: auth.keys,
        sha256: _aws_crypto_sha256_js__WEBPACK_IMPORTED_MODULE_0__.Sha256,
        // As Codex: the payload hash goes into the signature only, no x-amz-content-sha256 header.
        applyChecksum: false
    });
    return async (url, method, headers, body) => {
        const target = new URL(url);
        const signable = { host: target.host };
        for (const name of SIGNED)
            if (typeof headers[name] === 'string')
                signable[name] = headers[name];
        const signed = await signer.sign({
            method,
            protocol: target.protocol,
            hostname: target.hostname,
            port: target.port ? Number(target.port) : undefined,
            path: target.pathname,
            query: Object.fromEntries(target.searchParams),
            headers: signable,
            body: body ?? ''
        });
        const out = { ...headers, ...signed.headers };
        delete out[NOT_PRESERVED];
        // Node writes Host from the URL: the same value.
        delete out.host;
        return out;
    };
}
/** The refusals of AWS's front doors, by error type or message, and what to do about each. */
const REFUSALS = [
    [
        /ExpiredToken|security token included in the request is expired|token has expired/i,
        () => 'Amazon Bedrock refused the AWS credentials: the session has expired. Temporary credentials last as long as the role session (configure-aws-credentials: role-duration-seconds, 1 hour by default); give it a duration that covers the whole job.'
    ],
    [
        /SignatureDoesNotMatch|InvalidSignature|signature we calculated does not match|Signature expired/i,
        (upstream) => `Amazon Bedrock refused the request's SigV4 signature: check that AWS_SECRET_ACCESS_KEY belongs to AWS_ACCESS_KEY_ID, that aws-region (${upstream.region}) is the region of api-base-url, and that the runner's clock is right (within 5 minutes).`
    ],
    [
        /UnrecognizedClient|security token included in the request is invalid|InvalidClientTokenId/i,
        () => 'Amazon Bedrock does not know these AWS credentials (invalid or deleted access key, or a session token that does not belong to it). Check the step that exported AWS_ACCESS_KEY_ID.'
    ],
    [
        /AccessDenied|not authorized to perform/i,
        (upstream) => `Amazon Bedrock refused the request: the role or user may not use this model through Bedrock's OpenAI-compatible API (bedrock-mantle) in ${upstream.region}. Allow it in the role's IAM policy, and check the model's access in the Bedrock console.`
    ],
    [
        /MissingAuthenticationToken|Missing Authentication Token/i,
        () => 'Amazon Bedrock got no credentials (Missing Authentication Token). Check api-base-url.'
    ]
];
/**
 * For a 401 or 403 from Bedrock: one line that says what is wrong and what to do, which
 * the proxy answers Codex with instead of AWS's text. Undefined for anything else.
 */
function explainRefusal(upstream, status, errorType, body) {
    if (status !== 401 && status !== 403)
        return undefined;
    if (upstream.auth.kind === 'bearer')
        return `Amazon Bedrock refused the Bedrock API key (HTTP ${status}): it is expired, revoked, or not valid for ${upstream.region}. Create a new key and store it in the bedrock-api-key secret.`;
    const text = `${errorType} ${body}`;
    const known = REFUSALS.find(([pattern]) => pattern.test(text));
    return known?.[1](upstream);
}


/***/ })

};
