import { Ratelimit } from "@upstash/ratelimit";
import { redis } from "../../../lib/redis.js";

let ratelimit;

// limiter allows 5 requests per client in any 60 s, counted in Redis through redisgate.
function limiter() {
  ratelimit ??= new Ratelimit({
    redis: redis(),
    limiter: Ratelimit.slidingWindow(5, "60 s"),
    prefix: "ratelimit:limited",
  });
  return ratelimit;
}

export const dynamic = "force-dynamic";

export async function GET(request) {
  // Behind Vercel (or any proxy that sets it) the first X-Forwarded-For address is the client.
  const ip = (request.headers.get("x-forwarded-for") ?? "").split(",")[0].trim() || "anonymous";
  const { success, limit, remaining, reset } = await limiter().limit(ip);
  const headers = {
    "X-RateLimit-Limit": String(limit),
    "X-RateLimit-Remaining": String(remaining),
    "X-RateLimit-Reset": String(reset),
  };
  if (!success) {
    return Response.json({ error: "too many requests" }, { status: 429, headers });
  }
  return Response.json({ ok: true, remaining }, { headers });
}
