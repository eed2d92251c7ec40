export interface WaitForOptions {
  timeoutMs: number;
  /** Pause between probes (default 100 ms). */
  intervalMs?: number;
  /** What we wait for, in words: it names the condition in the timeout error. */
  what: string;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` until it returns something other than `undefined` or `false`, and returns
 * that. A probe that throws counts as "not yet"; on timeout the error names `what` and
 * the last error the probe threw.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined | false>, opts: WaitForOptions): Promise<T> {
  const { timeoutMs, intervalMs = 100, what } = opts;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let attempts = 0;
  for (;;) {
    attempts += 1;
    try {
      const result = await probe();
      if (result !== undefined && result !== false) return result;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  const detail = lastError === undefined ? 'the probe never threw' : `last error: ${describe(lastError)}`;
  throw new Error(`timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${what}; ${detail}`, {
    cause: lastError,
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
