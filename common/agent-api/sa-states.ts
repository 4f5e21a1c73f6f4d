/** charon's SA states, as the agent reads them and its status reports them. */

/**
 * CHILD_SA states whose SAs are in the kernel and carry traffic. REKEYING forwards on the
 * old SA until the new one is installed. REKEYED (the peer rekeyed it) appears only once
 * the replacement is installed, and the old SA keeps the outbound direction until the
 * peer's delete arrives. UPDATING is MOBIKE moving an installed SA to new addresses.
 * DELETING does not count: whatever replaces it is reported on its own.
 */
export const CHILD_CARRYING: ReadonlySet<string> = new Set([
  "INSTALLED",
  "REKEYING",
  "REKEYED",
  "UPDATING",
]);

/** An IKE_SA being rekeyed still owns its children; one that is DELETING takes them along. */
export const IKE_ALIVE: ReadonlySet<string> = new Set(["ESTABLISHED", "REKEYING"]);
