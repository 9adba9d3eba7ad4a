// openai-fake's Node preload: `NODE_OPTIONS=--import=<this file>`, set by `openai-fake exec` / `env`.
//
// Node 20's fetch ignores HTTPS_PROXY (NODE_USE_ENV_PROXY=1 too), and its bundled undici, whose
// EnvHttpProxyAgent would fix that, cannot be imported. So this sends the OpenAI hosts'
// traffic through the fake's proxy itself, using only Node's built-ins:
//   - fetch: a wrapper gives OpenAI requests an undici Agent (the class of Node's own global
//     dispatcher) whose `connect` opens a CONNECT tunnel through the fake;
//   - node:https (https.request/get, axios, node-fetch, older SDKs): https.Agent's
//     createConnection tunnels the same way, and request/get force that agent for OpenAI hosts,
//     so a custom agent or `createConnection` option cannot reach the real host;
//   - tls.connect straight to an OpenAI host (npm undici, http2, raw TLS) fails: it would
//     otherwise escape the fake.
// TLS then runs end to end with the fake (its CA comes from NODE_EXTRA_CA_CERTS, which Node
// adds to its store), so the journal shows the calls on the "proxy" face. Other hosts are
// untouched. Inert unless OPENAI_FAKE_PROXY (http://HOST:PORT) is set.
// "OpenAI hosts" here: OpenAI's, Azure OpenAI's, and those in OPENAI_FAKE_HOSTS (see isOpenAI).
import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import tls from 'node:tls';

const proxy = process.env.OPENAI_FAKE_PROXY ? new URL(process.env.OPENAI_FAKE_PROXY) : null;
const PATCHED = Symbol.for('openai-fake.preload');

if (proxy && !globalThis[PATCHED]) {
  globalThis[PATCHED] = true;
  patchTls();
  patchHttps();
  patchFetch();
  syncBuiltinESMExports(); // `import { request } from 'node:https'` sees the patched functions too
}

/** Other hosts the fake answers (`profile.host(...)`), as the fake's env gives them at start:
 *  OPENAI_FAKE_HOSTS=api.example.com,*.example.org. A host registered after the app started
 *  reaches it only once the app is started again. */
const EXTRA = (process.env.OPENAI_FAKE_HOSTS || '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);

/** Whether a registered name (`api.example.com`, `*.example.com`) covers `h`, as the fake's `hosts.matches`. */
function covers(pattern, h) {
  return pattern.startsWith('*.') ? h.endsWith(pattern.slice(1)) && h.length > pattern.length - 1 : h === pattern;
}

/** The hosts the fake answers: api.openai.com and its regional hosts (eu.api.openai.com, ...),
 *  Azure OpenAI's (*.openai.azure.com, *.cognitiveservices.azure.com), and OPENAI_FAKE_HOSTS;
 *  any case, a trailing dot included. */
function isOpenAI(host) {
  if (typeof host !== 'string') return false;
  const h = host.toLowerCase().replace(/\.$/, '');
  return h === 'api.openai.com' || h.endsWith('.api.openai.com') || h.endsWith('.openai.azure.com')
    || h.endsWith('.cognitiveservices.azure.com') || EXTRA.some((pattern) => covers(pattern, h));
}

/** Host name from a `host` that may carry a port or IPv6 brackets. */
function bareHost(host) {
  if (typeof host !== 'string') return host;
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  return host.split(':')[0];
}

/** A TLS socket to `host:port`, tunnelled through the fake; `callback(err, socket)` once secure. */
function tunnel(host, port, tlsOptions, callback) {
  let done = false;
  const finish = (err, socket) => {
    if (!done) {
      done = true;
      callback(err, socket);
    }
  };
  const target = `${host}:${port}`;
  const req = http.request({
    host: bareHost(proxy.hostname), port: proxy.port || 80, method: 'CONNECT', path: target,
    headers: { host: target }, agent: false,
  });
  req.once('connect', (res, socket) => {
    if (res.statusCode !== 200) {
      socket.destroy();
      finish(new Error(`openai-fake: the fake at ${proxy.host} answered CONNECT ${target} with ${res.statusCode}`));
      return;
    }
    const secure = tls.connect({ ...tlsOptions, socket, servername: host });
    secure.once('secureConnect', () => finish(null, secure));
    secure.once('error', (err) => finish(err));
  });
  req.once('error', (err) => finish(new Error(`openai-fake: cannot reach the fake at ${proxy.host}: ${err.message}`)));
  req.end();
}

function patchTls() {
  const connect = tls.connect;
  tls.connect = function (...args) {
    const options = args.find((a) => a && typeof a === 'object') ?? {};
    const host = options.servername || options.host || (typeof args[1] === 'string' ? args[1] : undefined);
    if (!options.socket && isOpenAI(bareHost(host))) {
      // Resolving fails, so the connection errors the usual way, and never reaches the real API.
      const refuse = (hostname, _opts, cb) => {
        const err = new Error(`openai-fake: refused a TLS connection to ${hostname} that bypassed the fake`);
        err.code = 'ENOTFOUND';
        process.nextTick(cb, err);
      };
      const port = options.port || (typeof args[0] === 'number' || typeof args[0] === 'string' ? args[0] : 443);
      const callback = args.find((a) => typeof a === 'function');
      return connect.call(this, { ...options, port, host: bareHost(host), lookup: refuse }, callback);
    }
    return connect.apply(this, args);
  };
}

function patchHttps() {
  const createConnection = https.Agent.prototype.createConnection;
  https.Agent.prototype.createConnection = function (options, callback) {
    const host = bareHost(options.host || options.hostname);
    if (!isOpenAI(host)) return createConnection.call(this, options, callback);
    const { host: _h, port: _p, path: _path, ...tlsOptions } = options;
    tunnel(host, options.port || 443, tlsOptions, callback);
    return undefined; // the agent waits for the callback
  };

  const agent = new https.Agent({ keepAlive: true });
  for (const name of ['request', 'get']) {
    const original = https[name];
    https[name] = function (...args) {
      return original.apply(this, forceAgent(args, agent));
    };
  }
}

/** https.request's arguments, with `agent` set to ours when they go to an OpenAI host. */
function forceAgent(args, agent) {
  const [first, second] = args;
  const url = typeof first === 'string' ? new URL(first) : first instanceof URL ? first : null;
  const options = url ? (second && typeof second === 'object' ? second : null) : first && typeof first === 'object' ? first : null;
  const host = (options && (options.hostname || bareHost(options.host))) || (url && url.hostname) || 'localhost';
  if (!isOpenAI(bareHost(host))) return args;
  const forced = { ...(options ?? {}), agent };
  delete forced.createConnection;
  if (url) return [url, forced, ...args.slice(second && typeof second === 'object' ? 2 : 1)];
  return [forced, ...args.slice(1)];
}

function patchFetch() {
  const fetch = globalThis.fetch;
  if (typeof fetch !== 'function') return;
  // Node's undici, loaded now (about 15 ms) so that its Agent class is taken before an app can
  // replace the global dispatcher; it is the interop slot npm undici's setGlobalDispatcher uses.
  void globalThis.Headers;
  const Agent = globalThis[Symbol.for('undici.globalDispatcher.1')]?.constructor;
  let dispatcher = null;
  if (typeof Agent === 'function') {
    dispatcher = new Agent({
      connect(options, callback) {
        tunnel(options.hostname, options.port || 443, { ALPNProtocols: ['http/1.1'] }, callback);
      },
    });
  }
  globalThis.fetch = function (input, init) {
    let host;
    try {
      host = new URL(typeof input === 'string' || input instanceof URL ? input : input.url).hostname;
    } catch {
      return fetch.call(this, input, init); // fetch itself reports the bad URL
    }
    if (!isOpenAI(host)) return fetch.call(this, input, init);
    if (!dispatcher) {
      return Promise.reject(new TypeError('openai-fake: cannot send fetch to the fake: no undici Agent in this Node'));
    }
    // Ours replaces any dispatcher the caller gave: that one could reach the real host.
    return fetch.call(this, input, { ...init, dispatcher });
  };
}
