/**
 * Polls `check` until it holds: for effects of real processes, sockets and timers that offer no
 * event to await. Fails with what it was waiting for, never with a bare timeout, and with what
 * `diagnose` finds at that moment (the state a reader of a CI log needs to see why).
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
  diagnose?: () => unknown,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      let found = '';
      if (diagnose) {
        try {
          const d = await diagnose();
          found = `\n${typeof d === 'string' ? d : JSON.stringify(d, null, 2)}`;
        } catch (err) {
          found = `\n(diagnostics failed: ${String(err)})`;
        }
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${found}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
