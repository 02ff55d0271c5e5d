import { Redis } from "@upstash/redis";

let client;

// redis returns the app's one client, made on first use by Redis.fromEnv() from
// UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (redisgate's URL and token). Not at
// import: `next build` imports every route without the runtime's environment.
export function redis() {
  client ??= Redis.fromEnv();
  return client;
}
