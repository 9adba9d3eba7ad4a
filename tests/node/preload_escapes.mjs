// Ways a program could route around the preload; none may reach a real OpenAI host.
import https from 'node:https';
import tls from 'node:tls';

const auth = { Authorization: 'Bearer sk-x' };

// 1. fetch with a dispatcher of the app's own (here: an Agent that would connect directly).
const Agent = globalThis[Symbol.for('undici.globalDispatcher.1')].constructor;
const own = new Agent({ connect: { rejectUnauthorized: true } });
const r = await fetch('https://api.openai.com/v1/models', { headers: auth, dispatcher: own });
console.log('own dispatcher', r.status);

// 2. node:https with a custom agent and a createConnection of its own.
const custom = new (class extends https.Agent {
  createConnection(options, cb) { return tls.connect({ ...options, servername: options.host }, cb); }
})();
const viaAgent = await new Promise((resolve, reject) => {
  https.get({ host: 'api.openai.com', path: '/v1/models', headers: auth, agent: custom }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode));
  }).on('error', reject);
});
console.log('own agent', viaAgent);

// 3. Raw TLS to the real host: refused.
const refused = await new Promise((resolve) => {
  const s = tls.connect({ host: 'api.openai.com', port: 443, servername: 'api.openai.com' });
  s.on('secureConnect', () => { s.destroy(); resolve('connected'); });
  s.on('error', (e) => resolve(e.message));
});
console.log('raw tls', refused);

// 4. Another host is untouched: the fake's own base-URL face, over plain HTTP.
const other = await fetch(`${process.env.OPENAI_FAKE_PROXY}/v1/models`, { headers: auth });
console.log('other host', other.status);
