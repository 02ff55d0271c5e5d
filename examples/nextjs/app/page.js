export default function Home() {
  return (
    <main>
      <h1>redisgate + Next.js</h1>
      <ul>
        <li><code>POST /api/counter/node</code>: INCR from the Node.js runtime</li>
        <li><code>POST /api/counter/edge</code>: INCR from the Edge runtime</li>
        <li><code>GET /api/limited</code>: 5 requests a minute per client, then 429</li>
      </ul>
    </main>
  );
}
