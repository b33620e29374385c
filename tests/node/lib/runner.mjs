// The Node.js suites' tiny test runner (tests/node/sdk.mjs,
// tests/browser/console.mjs): named checks that print "ok"/"FAIL" lines and
// are counted for the suite's closing "<suite>: N passed, M failed" line,
// and the assertions and waits they share.

export class Runner {
  /** only: a RegExp of the check names to run (null: all). */
  constructor({ only = null } = {}) {
    this.only = only;
    this.passed = 0;
    this.failed = 0;
  }

  /** Runs fn as the check called name, unless `only` leaves it out. */
  async check(name, fn) {
    if (this.only && !this.only.test(name)) return;
    const t0 = Date.now();
    try {
      await fn();
      this.passed++;
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      this.failed++;
      console.log(`FAIL ${name}\n     ${String(e && e.stack ? e.stack : e).split('\n').slice(0, 6).join('\n     ')}`);
    }
  }

  /** The closing line tests/run-all.sh counts. */
  summary(suite) {
    return `${suite}: ${this.passed} passed, ${this.failed} failed`;
  }
}

export function eq(actual, expected, what) {
  const a = JSON.stringify(actual);
  const b = JSON.stringify(expected);
  if (a !== b) throw new Error(`${what}: expected ${b}, got ${a}`);
}

export function assert(cond, what) {
  if (!cond) throw new Error(what);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** fn's first truthy value, polling every everyMs; throws after timeoutMs. */
export async function waitFor(what, fn, timeoutMs, everyMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
