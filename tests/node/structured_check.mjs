// openai-node's structured outputs against the fake: zod schemas through zodResponseFormat (chat parse),
// zodTextFormat (Responses parse) and zodFunction (a forced tool), each answer parsed back by zod itself.
// Run as: openai-fake exec --base-url -- node tests/node/structured_check.mjs
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { zodFunction, zodResponseFormat, zodTextFormat } from 'openai/helpers/zod';
import { z } from 'zod';

const baseURL = process.env.OPENAI_BASE_URL;
if (!baseURL || !process.env.OPENAI_API_KEY) {
  console.error('structured_check: run under `openai-fake exec --base-url`');
  process.exit(2);
}
const client = new OpenAI({ baseURL, maxRetries: 0, timeout: 20_000 });

const Address = z.object({ street: z.string(), zip: z.string().regex(/^\d{5}$/) });
const Order = z.object({
  id: z.uuid(),
  site: z.url(),
  email: z.email(),
  placed: z.iso.datetime(),
  day: z.iso.date(),
  code: z.string().regex(/^[A-Z]{3}-\d{4}$/),
  quantity: z.number().int().gt(10).lte(99),
  price: z.number().multipleOf(0.25).positive(),
  status: z.enum(['open', 'shipped']),
  tags: z.array(z.string()).min(2).max(3),
  address: Address,
  note: z.string().nullable(),
  kind: z.discriminatedUnion('type', [z.object({ type: z.literal('a'), a: z.number() }),
                                      z.object({ type: z.literal('b'), b: z.boolean() })]),
});

async function check(name, fn) {
  await fn();
  console.log(`ok   ${name}`);
}

try {
  await check('chat.completions.parse(zodResponseFormat)', async () => {
    const r = await client.chat.completions.parse({
      model: 'gpt-4o', messages: [{ role: 'user', content: 'An order, please.' }],
      response_format: zodResponseFormat(Order, 'order'),
    });
    const parsed = r.choices[0].message.parsed;
    assert.ok(parsed, 'nothing parsed');
    Order.parse(parsed);
  });
  await check('responses.parse(zodTextFormat)', async () => {
    const r = await client.responses.parse({ model: 'gpt-4o', input: 'An order, please.',
                                             text: { format: zodTextFormat(Order, 'order') } });
    Order.parse(r.output_parsed);
  });
  await check('a forced zodFunction', async () => {
    const r = await client.chat.completions.parse({
      model: 'gpt-4o', messages: [{ role: 'user', content: 'Place it.' }],
      tools: [zodFunction({ name: 'place_order', parameters: Order })],
      tool_choice: { type: 'function', function: { name: 'place_order' } },
    });
    const call = r.choices[0].message.tool_calls[0];
    Order.parse(call.function.parsed_arguments);
  });
  console.log('all checks passed');
} catch (e) {
  console.error(`FAIL ${e?.stack ?? e}`);
  process.exit(1);
}
