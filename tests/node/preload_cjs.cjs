// A CommonJS program: require('https').get and fetch, the preload given by --import all the same.
const https = require('https');

https.get('https://api.openai.com/v1/models', { headers: { Authorization: 'Bearer sk-x' } }, (res) => {
  let body = '';
  res.on('data', (c) => { body += c; });
  res.on('end', async () => {
    console.log('https.get', res.statusCode, JSON.parse(body).object);
    const r = await fetch('https://eu.api.openai.com./v1/models', { headers: { Authorization: 'Bearer sk-x' } });
    console.log('fetch', r.status, (await r.json()).object);
  });
}).on('error', (e) => { console.error(e); process.exit(1); });
