import { chmod, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { makeCa, newKey, sign } from "../../../common/openssl-ca.ts";
import type { LabPlan } from "./plan.ts";

/**
 * The lab's agent API PKI, made with openssl at deploy time: one CA, a server certificate per
 * appliance for its private address, and the controller's client certificate. The lab's own
 * CLI uses the operator certificate (OU=swanpair-operator), as an operator would.
 */

export interface LabPki {
  ca: string;
  servers: Record<string, { cert: string; key: string }>;
  controller: { cert: string; key: string };
  operator: { cert: string; key: string };
}

export async function makeLabPki(dir: string, plan: LabPlan): Promise<LabPki> {
  const ca = await makeCa(join(dir, "ca"), `swanpair lab ${plan.lab} CA`, 30);
  const leaves = join(dir, "leaves");
  await mkdir(leaves, { recursive: true, mode: 0o700 });
  const leaf = async (
    name: string,
    subject: string,
    profile: "server" | "client",
    ips?: string[],
  ) => {
    const key = await newKey(leaves, name, subject);
    const cert = await sign(ca, join(leaves, `${name}.csr`), join(leaves, `${name}.crt`), {
      profile,
      ips,
      validity: ["-days", "30"],
    });
    return { cert, key };
  };
  const servers: LabPki["servers"] = {};
  for (const a of plan.vpcs.flatMap((v) => v.appliances)) {
    servers[a.name] = await leaf(a.name, `/CN=${a.name}`, "server", [a.address]);
  }
  const controller = await leaf("controller", "/CN=controller", "client");
  const operator = await leaf("operator", "/OU=swanpair-operator/CN=lab-operator", "client");
  for (const d of [ca.dir, leaves]) {
    for (const f of await readdir(d)) await chmod(join(d, f), 0o600);
  }
  return { ca: ca.cert, servers, controller, operator };
}
