// Bare fetch to https://api.openai.com, as an app without the SDK would call it.
const r = await fetch('https://api.openai.com/v1/models', {
  headers: { Authorization: `Bearer ${process.env.OPENAI_API_KEY}` },
});
const body = await r.json();
console.log('fetch', r.status, r.url, body.object);
