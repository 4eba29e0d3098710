/**
 * Runs the real `bedrock-gateway` binary (simulated backend) for a test file.
 *
 * The binary is not built here: scripts/test-clients builds it once with
 * cargo. BEDROCK_GATEWAY_BIN names it (relative paths are from the repository
 * root); the default is target/debug/bedrock-gateway.
 */

import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";

export const REPO_ROOT = path.resolve(__dirname, "..", "..", "..", "..");
const STARTUP_TIMEOUT_MS = 30_000;
/** Well under --drain-timeout: a slower stop means a call was still held open. */
export const STOP_TIMEOUT_MS = 10_000;

export type LogRecord = Record<string, unknown>;

export function gatewayBinary(): string {
  const configured = process.env.BEDROCK_GATEWAY_BIN;
  const bin = configured
    ? path.resolve(REPO_ROOT, configured)
    : path.join(REPO_ROOT, "target", "debug", "bedrock-gateway");
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    throw new Error(
      `no gateway binary at ${bin}: run \`cargo build --bin bedrock-gateway\` ` +
        "(scripts/test-clients does) or set BEDROCK_GATEWAY_BIN",
    );
  }
  return bin;
}

export class Gateway {
  private exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly addr: string,
    readonly child: ChildProcess,
    readonly logs: LogRecord[],
  ) {
    this.exit = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve({ code: child.exitCode, signal: child.signalCode });
      } else {
        child.once("exit", (code, signal) => resolve({ code, signal }));
      }
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then the exit code (SIGKILL and an error past STOP_TIMEOUT_MS). */
  async stop(): Promise<{ code: number | null; elapsedMs: number }> {
    const started = Date.now();
    if (this.running) this.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS);
    });
    const outcome = await Promise.race([this.exit, timeout]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      this.child.kill("SIGKILL");
      await this.exit;
      throw new Error(`gateway did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM`);
    }
    return { code: outcome.code, elapsedMs: Date.now() - started };
  }

  /** Kills the gateway if it still runs (a safety net for failed runs). */
  kill(): void {
    if (this.running) this.child.kill("SIGKILL");
  }
}

/** Starts the gateway on 127.0.0.1:0 and reads its address from its JSON log. */
export function startGateway(): Promise<Gateway> {
  const child = spawn(
    gatewayBinary(),
    [
      "--backend", "simulated",
      "--listen", "127.0.0.1:0",
      "--log-format", "json",
      "--simulated-token-delay", "2ms",
      "--drain-timeout", "20s",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  // Should the test process end without stopping it (a crash), still stop it.
  process.once("exit", () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const logs: LogRecord[] = [];
  const seen: string[] = [];
  // Reads stderr to its end, so the server never blocks on a full pipe.
  const lines = readline.createInterface({ input: child.stderr! });
  return new Promise<Gateway>((resolve, reject) => {
    let settled = false;
    const fail = (message: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${message}\n${seen.join("\n")}`));
    };
    const timer = setTimeout(
      () => fail(`gateway did not log its address within ${STARTUP_TIMEOUT_MS} ms`),
      STARTUP_TIMEOUT_MS,
    );
    lines.on("line", (line) => {
      let record: LogRecord;
      try {
        record = JSON.parse(line) as LogRecord;
      } catch {
        record = { message: line };
      }
      logs.push(record);
      if (settled) return;
      seen.push(line);
      if (record.message === "bedrock-gateway listening") {
        const addr = String(record.addr);
        if (!addr.startsWith("127.0.0.1:")) return fail(`gateway listens on ${addr}, not 127.0.0.1`);
        settled = true;
        clearTimeout(timer);
        resolve(new Gateway(addr, child, logs));
      }
    });
    child.once("error", (error) => fail(`cannot start the gateway: ${error.message}`));
    child.once("exit", (code, signal) => fail(`gateway exited (code ${code}, signal ${signal}) before listening`));
  });
}
