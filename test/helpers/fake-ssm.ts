import type { ParameterFetcher } from "../../agent/src/keys/parameters.ts";
import { Secret } from "../../common/secret.ts";
import { GOOD_PSK } from "../fixtures/invalid-configs.ts";

/** Every key the agents ask SSM for is there, a SecureString; records what was asked. */
export function fakeSsm() {
  const asked: Array<{ region: string; endpoint?: string | undefined; names: string[] }> = [];
  const fetch: ParameterFetcher = async (ssm, names) => {
    asked.push({ ...ssm, names: [...names] });
    return new Map(
      names.map((n) => [n, { found: true, type: "SecureString", value: new Secret(GOOD_PSK) }]),
    );
  };
  return { asked, fetch };
}
