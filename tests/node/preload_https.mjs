// node:https as axios, node-fetch and older SDKs use it; a named import checks the ESM bindings.
import { request } from 'node:https';

const status = await new Promise((resolve, reject) => {
  const req = request('https://api.openai.com/v1/models', {
    headers: { Authorization: `Bearer ${process.env.OPENAI_API_KEY}` },
  }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => { body += c; });
    res.on('end', () => resolve(`${res.statusCode} ${JSON.parse(body).object}`));
  });
  req.on('error', reject);
  req.end();
});
console.log('https', status);
