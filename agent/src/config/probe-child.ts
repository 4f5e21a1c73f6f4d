/**
 * A tunnel's probe has a CHILD_SA of its own (render/connections.ts), named after the tunnel;
 * config checks that no tunnel takes that name.
 */
export const probeChildName = (tunnel: string) => `${tunnel}-probe`;
