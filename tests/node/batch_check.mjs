// The real openai-node SDK runs a batch and a fine-tuning job against the fake's base-URL face.
// Run as: openai-fake exec --base-url -- node tests/node/batch_check.mjs
// Exits 0 only if every check passes; prints one line per check.
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';

const baseURL = process.env.OPENAI_BASE_URL;
const apiKey = process.env.OPENAI_API_KEY;
if (!baseURL || !apiKey) {
  console.error('batch_check: OPENAI_BASE_URL and OPENAI_API_KEY must be set (run under `openai-fake exec --base-url`)');
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20_000 });

function jsonl(lines) {
  return lines.map((line) => JSON.stringify(line)).join('\n') + '\n';
}

async function until(read, done) {
  const seen = [];
  for (let i = 0; i < 30; i++) {
    const obj = await read();
    seen.push(obj.status);
    if (done.includes(obj.status)) return [obj, seen];
  }
  throw new Error(`never ended: ${seen.join(' ')}`);
}

try {
  const lines = Array.from({ length: 5 }, (_, i) => ({
    custom_id: `q${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Question ${i}` }] },
  }));
  const input = await client.files.create({ file: await toFile(Buffer.from(jsonl(lines)), 'in.jsonl'), purpose: 'batch' });
  const batch = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  assert.equal(batch.status, 'validating');
  const [done, seen] = await until(() => client.batches.retrieve(batch.id), ['completed', 'failed', 'expired', 'cancelled']);
  assert.deepEqual(seen, ['in_progress', 'finalizing', 'completed']);
  assert.deepEqual(done.request_counts, { total: 5, completed: 5, failed: 0 });
  const output = (await (await client.files.content(done.output_file_id)).text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(output.map((o) => o.custom_id).sort(), ['q0', 'q1', 'q2', 'q3', 'q4']);
  assert.ok(output.every((o) => o.response.status_code === 200 && o.response.body.object === 'chat.completion'));
  console.log('ok   batches: 5 chat lines answered, output file read back');

  const examples = Array.from({ length: 10 }, (_, i) => ({
    messages: [{ role: 'user', content: `Q${i}` }, { role: 'assistant', content: `A${i}` }],
  }));
  const training = await client.files.create({ file: await toFile(Buffer.from(jsonl(examples)), 'train.jsonl'), purpose: 'fine-tune' });
  const job = await client.fineTuning.jobs.create({ model: 'gpt-4o-mini-2024-07-18', training_file: training.id, suffix: 'node' });
  const [trained] = await until(() => client.fineTuning.jobs.retrieve(job.id), ['succeeded', 'failed', 'cancelled']);
  assert.equal(trained.status, 'succeeded');
  assert.match(trained.fine_tuned_model, /^ft:gpt-4o-mini-2024-07-18:[^:]+:node:/);
  const reply = await client.chat.completions.create({ model: trained.fine_tuned_model, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(reply.model, trained.fine_tuned_model);
  const model = await client.models.retrieve(trained.fine_tuned_model);
  assert.equal(model.id, trained.fine_tuned_model);
  console.log('ok   fine-tuning: a job to a model that chat answers for');
  console.log('all checks passed');
} catch (e) {
  console.error(e);
  process.exit(1);
}
