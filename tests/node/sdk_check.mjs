// The real openai-node SDK against the fake's base-URL face.
// Run as: openai-fake exec --base-url -- node tests/node/sdk_check.mjs
// Exits 0 only if every check passes; prints one line per check.
//
// Node's fetch ignores HTTPS_PROXY, so this uses OPENAI_BASE_URL, which
// `exec --base-url` sets. Without it the SDK would go to the real API, so refuse.
import assert from 'node:assert/strict';
import OpenAI, { NotFoundError } from 'openai';
import { VERSION } from 'openai/version';

const baseURL = process.env.OPENAI_BASE_URL;
const apiKey = process.env.OPENAI_API_KEY;
if (!baseURL || !apiKey) {
  console.error('sdk_check: OPENAI_BASE_URL and OPENAI_API_KEY must be set (run under `openai-fake exec --base-url`)');
  process.exit(2);
}

// No retries: a wrong answer from the fake must show at once, not after backoff.
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20_000 });

async function check(name, fn) {
  await fn();
  console.log(`ok   ${name}`);
}

try {
  console.log(`openai-node ${VERSION} -> ${baseURL}`);

  await check('chat.completions.create', async () => {
    const r = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hello' }],
    });
    assert.equal(r.object, 'chat.completion');
    assert.ok(r.choices.length >= 1, 'no choices');
    assert.equal(typeof r.choices[0].message.content, 'string');
    assert.ok(r.choices[0].message.content.length > 0, 'empty content');
  });

  // No encoding_format: openai-node then asks for base64 and decodes it itself.
  await check('embeddings.create (default encoding)', async () => {
    const r = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
    assert.equal(r.data.length, 1);
    assert.ok(Array.isArray(r.data[0].embedding), 'embedding is not an array');
    assert.equal(r.data[0].embedding.length, 1536);
    assert.ok(r.data[0].embedding.every(Number.isFinite), 'embedding has non-numbers');
  });

  await check('models.list', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes('gpt-4o'), `gpt-4o not in ${JSON.stringify(ids)}`);
  });

  await check("models.retrieve('gpt-4o')", async () => {
    const m = await client.models.retrieve('gpt-4o');
    assert.equal(m.id, 'gpt-4o');
    assert.equal(m.object, 'model');
  });

  await check('models.retrieve(unknown) -> NotFoundError 404', async () => {
    await assert.rejects(client.models.retrieve('no-such-model-xyz'), (e) => {
      assert.ok(e instanceof NotFoundError, `expected NotFoundError, got ${e?.constructor?.name}: ${e}`);
      assert.equal(e.status, 404);
      return true;
    });
  });
  await check('chat.completions.create({stream: true}): raw iteration', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Stream this' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let usage = null;
    for await (const chunk of stream) {
      chunks += 1;
      if (chunk.choices.length) text += chunk.choices[0].delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, 'This is a fake answer from openai-fake. You said: Stream this');
    assert.ok(chunks > 5, `only ${chunks} chunks`);
    assert.ok(usage && usage.completion_tokens > 0, 'no usage chunk');
  });

  await check('chat.completions.stream(): finalChatCompletion()', async () => {
    const deltas = [];
    const stream = client.chat.completions.stream({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Helpers too' }],
    });
    stream.on('content', (delta) => deltas.push(delta));
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices[0].message.content, deltas.join(''));
    assert.equal(final.choices[0].finish_reason, 'stop');
    assert.ok(deltas.length > 3, `only ${deltas.length} deltas`);
  });
  await check('responses.create({stream: true}): raw iteration', async () => {
    const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'Stream a response', stream: true });
    const types = [];
    let text = '';
    let seq = -1;
    for await (const event of stream) {
      types.push(event.type);
      assert.equal(event.sequence_number, seq + 1, 'sequence numbers must count up from 0');
      seq = event.sequence_number;
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    assert.equal(types[0], 'response.created');
    assert.equal(types.at(-1), 'response.completed');
    assert.equal(text, 'This is a fake answer from openai-fake. You said: Stream a response');
  });

  await check('responses.stream(): finalResponse()', async () => {
    const deltas = [];
    const stream = client.responses.stream({ model: 'gpt-4o-mini', input: 'Final please' });
    stream.on('response.output_text.delta', (e) => deltas.push(e.delta));
    const final = await stream.finalResponse();
    assert.equal(final.status, 'completed');
    assert.equal(final.output_text, deltas.join(''));
    assert.ok(deltas.length > 3, `only ${deltas.length} deltas`);
    const again = await client.responses.retrieve(final.id);
    assert.equal(again.output_text, final.output_text, 'a streamed response is stored');
  });
} catch (e) {
  console.error(`FAIL ${e?.stack ?? e}`);
  process.exit(1);
}
console.log('sdk_check: all checks passed');
