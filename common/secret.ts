import { inspect } from "node:util";

/**
 * Wraps a secret so that logging, JSON and util.inspect never show it. A secret is text, or
 * bytes where it need not be text (a PSK decoded from strongSwan's 0x/0s notation).
 */
export class Secret<T extends string | Uint8Array = string> {
  readonly #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  reveal(): T {
    return this.#value;
  }
  toJSON(): string {
    return "[redacted]";
  }
  toString(): string {
    return "[redacted]";
  }
  [inspect.custom](): string {
    return "Secret([redacted])";
  }
}
