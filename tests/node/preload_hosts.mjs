// Fetch to Azure OpenAI and to a host the profile registered (OPENAI_FAKE_HOSTS), with
// node:https for the registered one too: both must reach the fake, not the network.
import https from 'node:https';

const azure = await fetch(
  'https://contoso.openai.azure.com/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21',
  {
    method: 'POST',
    headers: { 'api-key': process.env.OPENAI_API_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
  },
);
const chat = await azure.json();
console.log('azure', azure.status, chat.object, chat.model);

const weather = await fetch('https://api.weather.example/forecast?city=Oslo');
console.log('weather fetch', weather.status, JSON.stringify(await weather.json()));

const viaHttps = await new Promise((resolve, reject) => {
  https.get('https://eu.data.example/status', (res) => {
    let text = '';
    res.on('data', (chunk) => { text += chunk; });
    res.on('end', () => resolve(`${res.statusCode} ${text}`));
  }).on('error', reject);
});
console.log('data https', viaHttps);
