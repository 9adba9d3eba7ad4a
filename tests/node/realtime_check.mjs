// The real openai-node SDK's realtime WebSocket client (`openai/realtime/ws`, on the `ws` package) against the fake.
// Run as: openai-fake exec -- node tests/node/realtime_check.mjs
// The SDK always dials wss://, so this goes through the proxy face: the fake's Node preload tunnels
// `ws`'s https request to api.openai.com through the fake, and NODE_EXTRA_CA_CERTS trusts its CA.
// Exits 0 only if every check passes; prints one line per check.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';

if (!process.env.OPENAI_FAKE_PROXY || !process.env.OPENAI_API_KEY) {
  console.error('realtime_check: run under `openai-fake exec` (OPENAI_FAKE_PROXY and OPENAI_API_KEY unset)');
  process.exit(2);
}

const client = new OpenAI({ maxRetries: 0 });
const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime' }, client);
const seen = [];
const waiters = [];
rt.on('event', (event) => {
  seen.push(event);
  for (const w of [...waiters]) {
    if (w.type === event.type) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(event);
    }
  }
});
rt.on('error', () => {}); // error events are checked below, from `seen`

/** The next event of `type` (or one already seen since `from`). */
function next(type, from = 0) {
  const found = seen.slice(from).find((e) => e.type === type);
  if (found) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    waiters.push({ type, resolve });
    setTimeout(() => reject(new Error(`no ${type} within 10 s; seen: ${seen.map((e) => e.type).join(', ')}`)), 10_000);
  });
}

async function check(name, fn) {
  await fn();
  console.log(`ok   ${name}`);
}

try {
  await check('session.created first', async () => {
    const created = await next('session.created');
    assert.equal(seen[0].type, 'session.created');
    assert.equal(created.session.model, 'gpt-realtime');
  });

  await check('text response', async () => {
    rt.send({ type: 'session.update', session: { type: 'realtime', output_modalities: ['text'] } });
    await next('session.updated');
    const from = seen.length;
    rt.send({ type: 'conversation.item.create',
              item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hello from Node' }] } });
    rt.send({ type: 'response.create' });
    const done = await next('response.done', from);
    const deltas = seen.slice(from).filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    const text = done.response.output[0].content[0].text;
    assert.equal(deltas, text);
    assert.match(text, /Hello from Node/);
    assert.equal(done.response.status, 'completed');
  });

  await check('audio response as PCM16', async () => {
    const from = seen.length;
    rt.send({ type: 'response.create', response: { output_modalities: ['audio'] } });
    const done = await next('response.done', from);
    const audio = seen.slice(from).filter((e) => e.type === 'response.output_audio.delta')
      .map((e) => Buffer.from(e.delta, 'base64'));
    const pcm = Buffer.concat(audio);
    assert.ok(pcm.length > 24_000, `only ${pcm.length} bytes of audio`);
    assert.equal(pcm.length % 2, 0);
    assert.ok(done.response.output[0].content[0].transcript.length > 0);
  });

  await check('an invalid event gets an error event, and the session goes on', async () => {
    const from = seen.length;
    rt.send({ type: 'no.such.event', event_id: 'evt_node_1' });
    const error = await next('error', from);
    assert.equal(error.error.type, 'invalid_request_error');
    assert.equal(error.error.param, 'type');
    assert.equal(error.error.event_id, 'evt_node_1');
    rt.send({ type: 'session.update', session: { type: 'realtime', instructions: 'Still here' } });
    const updated = await next('session.updated', from);
    assert.equal(updated.session.instructions, 'Still here');
  });

  rt.close();
  console.log('all checks passed');
} catch (err) {
  console.error(err);
  rt.close();
  process.exit(1);
}
