/**
 * Every name a lab derives, in one place: the runtime, the fleet file and the graph must agree
 * on them, and a person must be able to guess them (`docker ps | grep swanpair-demo-`).
 */

/** Docker allows longer container names, but a container's host name is one DNS label. */
export const CONTAINER_NAME_MAX = 63;

/** The node name of the central controller; no appliance or host may take it. */
export const CONTROLLER_NODE = "controller";

export const labPrefix = (lab: string) => `swanpair-${lab}`;
export const containerName = (lab: string, node: string) => `${labPrefix(lab)}-${node}`;
/** A VPC's Docker network; the internet's is networkName(lab, "internet"). */
export const networkName = (lab: string, name: string) => `${labPrefix(lab)}-${name}`;
export const INTERNET_NETWORK = "internet";
export const routerNode = (vpc: string) => `${vpc}-router`;
/** The fleet's pair of a VPC's two appliances. */
export const pairName = (vpc: string) => `${vpc}-pair`;
export const defaultConnectionName = (a: string, b: string) => `${a}-${b}`;

/** On every EC2 resource of a lab, so that a second seed (or a person with the CLI) finds it. */
export const LAB_TAG_KEY = "swanpair:lab";
/** The fleet tag of the lab's fleet file (value: the lab's name), on each VPC's route table. */
export const FLEET_TAG_KEY = "swanpair:fleet";
