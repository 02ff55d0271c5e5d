// REDISGATE_LAYOUT=cluster for the whole suite: starts one Redis Cluster (3 primaries, a replica
// each), runs `node --test` over test/*.test.mjs with REDISGATE_CLUSTER_SEEDS naming it (every
// file's gateway serves that cluster; useStack flushes it), then stops it. One cluster for the
// run instead of one per file keeps the added time small. Arguments: test files (default all).
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { startCluster, stopWatchdog, CONFORMANCE_DIR } from "./test/harness.mjs";

// The run as a whole has its own deadline; each file keeps its watchdog.
const RUN_DEADLINE_MS = 15 * 60_000;
stopWatchdog();

const files = process.argv.slice(2);
const tests = files.length ? files : readdirSync(path.join(CONFORMANCE_DIR, "test")).filter((f) => f.endsWith(".test.mjs")).sort().map((f) => path.join("test", f));
const cluster = await startCluster();
let code = 1;
try {
  code = await new Promise((resolve) => {
    const child = spawn(process.execPath, ["--test", "--test-concurrency=1", "--test-timeout=60000", ...tests], {
      cwd: CONFORMANCE_DIR,
      stdio: "inherit",
      env: { ...process.env, REDISGATE_LAYOUT: "cluster", REDISGATE_CLUSTER_SEEDS: cluster.seeds },
    });
    const t = setTimeout(() => {
      console.error(`[cluster-run] the suite still runs after ${RUN_DEADLINE_MS} ms: killing it`);
      child.kill("SIGKILL");
    }, RUN_DEADLINE_MS);
    child.once("exit", (c, sig) => {
      clearTimeout(t);
      resolve(c ?? (sig ? 1 : 0));
    });
  });
} finally {
  await cluster.stop();
}
process.exit(code);
