import { redis } from "../../../../lib/redis.js";

export const runtime = "edge";
export const dynamic = "force-dynamic";

export async function POST() {
  const count = await redis().incr("counter:edge");
  // What actually runs the handler: the Edge runtime defines EdgeRuntime.
  return Response.json({ count, runtime: typeof EdgeRuntime === "string" ? "edge" : "nodejs" });
}
