/** A lab that cannot be made or does not recover in time: a message for the user, no stack. */
export class LabError extends Error {}
