/**
 * Text helpers for messages that echo what a user wrote: a value quoted in an error must not
 * turn one bad line of a file into megabytes of output.
 */

/** `text` cut to `max` characters, saying how much was left out. */
export function clip(text: string, max = 300): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** A value quoted as JSON would quote it (control characters escaped), cut to `max`. */
export function quote(value: string, max = 64): string {
  if (value.length <= max) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, max))}… (${value.length} characters)`;
}

/** "1 error", "3 warnings". */
export function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}
