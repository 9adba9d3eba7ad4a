// An unmodified openai-node app (no baseURL, no proxy code), run by tests/test_node_sdk.py under
// `openai-fake exec --record DIR` and then `openai-fake exec --replay DIR`: it prints what it got, as JSON.
import OpenAI from 'openai';

const client = new OpenAI({ maxRetries: 0, timeout: 20_000 });
const ask = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello from node' }] };
const chat = await client.chat.completions.create(ask);
let streamed = '';
for await (const chunk of await client.chat.completions.create({ ...ask, stream: true })) {
  streamed += chunk.choices[0]?.delta?.content ?? '';
}
const first = await client.responses.create({ model: 'gpt-4o-mini', input: 'Start a node chain' });
const second = await client.responses.create({
  model: 'gpt-4o-mini', input: 'And another', previous_response_id: first.id,
});
console.log(JSON.stringify({
  chat: chat.choices[0].message.content, chatId: chat.id, streamed,
  chain: [first.output_text, second.output_text], firstId: first.id, chained: second.previous_response_id === first.id,
}));
