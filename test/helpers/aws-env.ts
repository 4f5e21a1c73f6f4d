/**
 * Credentials the AWS SDK signs with in tests. moto and the tests' fake servers ignore
 * signatures, but the SDK's credential chain must find something, and never real ones.
 */
export const FAKE_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: "testing",
  AWS_SECRET_ACCESS_KEY: "testing",
  AWS_SESSION_TOKEN: "testing",
} as const;

/** Puts FAKE_CREDENTIALS in this process's environment until `t`'s teardown. */
export function useFakeCredentials(t: { teardown(fn: () => unknown): void }): void {
  const saved = Object.fromEntries(Object.keys(FAKE_CREDENTIALS).map((k) => [k, process.env[k]]));
  Object.assign(process.env, FAKE_CREDENTIALS);
  t.teardown(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}
