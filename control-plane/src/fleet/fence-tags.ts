/** Route-table tags that record which member holds the routes, fencing stale writers. */
export const FENCE_TAGS = {
  active: "swanpair:active",
  epoch: "swanpair:epoch",
  at: "swanpair:at",
} as const;
