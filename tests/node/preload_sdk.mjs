// An unmodified openai-node app: the default https://api.openai.com, no baseURL, no proxy code.
// Run by tests/test_node_preload.py as `openai-fake exec -- node preload_sdk.mjs`.
import OpenAI from 'openai';

const client = new OpenAI({ maxRetries: 0, timeout: 20_000 });
const r = await client.chat.completions.create({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello' }],
});
console.log('chat', r.object, r.choices[0].message.content.length > 0);

const stream = await client.chat.completions.create({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello' }],
  stream: true,
});
let text = '';
for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
console.log('stream', text.length > 0);
console.log('key', client.apiKey);
