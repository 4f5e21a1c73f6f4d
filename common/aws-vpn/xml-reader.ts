import type { ConfigIssue } from "../yaml-config.ts";
import { isElement, type XmlElement } from "./xml.ts";

/**
 * Reads fields out of a parsed document and collects every problem with the element's path,
 * e.g. `vpn_connection/ipsec_tunnel[2]/ike/pre_shared_key`, so that one run reports them all.
 */

export interface At {
  el: XmlElement;
  path: string;
}

export class XmlReader {
  readonly issues: ConfigIssue[] = [];

  add(path: string, rule: string, message: string): undefined {
    this.issues.push({ path, rule, message });
    return undefined;
  }

  /** Every child element named `name`. */
  all(at: At, name: string): XmlElement[] {
    return at.el.children.filter((c): c is XmlElement => isElement(c) && c.name === name);
  }

  /** The one child element `name`: missing or repeated is an issue unless `optional` (missing only). */
  child(at: At, name: string, optional = false): At | undefined {
    const found = this.all(at, name);
    const path = `${at.path}/${name}`;
    if (found.length > 1)
      return this.add(`${path}[2]`, "repeated", `appears ${found.length} times; expected once`);
    const [el] = found;
    if (!el) return optional ? undefined : this.add(path, "missing", "is missing");
    return { el, path };
  }

  /** The trimmed text of an element that holds only text; "" when `empty` is allowed. */
  text(at: At | undefined, empty = false): string | undefined {
    if (!at) return undefined;
    if (at.el.children.some(isElement))
      return this.add(at.path, "type", "must hold text, not elements");
    const text = at.el.children
      .map((c) => ("text" in c ? c.text : ""))
      .join("")
      .trim();
    if (text === "" && !empty) return this.add(at.path, "empty", "is empty");
    return text;
  }

  /** The text of child `name`. */
  field(at: At | undefined, name: string, optional = false): string | undefined {
    return at && this.text(this.child(at, name, optional));
  }

  /** A whole number in decimal. */
  int(at: At | undefined, name: string): number | undefined {
    const text = this.field(at, name);
    if (text === undefined || !at) return undefined;
    if (!/^\d{1,10}$/.test(text))
      return this.add(
        `${at.path}/${name}`,
        "type",
        `${JSON.stringify(text.slice(0, 32))} is not a whole number`,
      );
    return Number(text);
  }

  /** `problem` against `path`, when there is one. */
  check(path: string, rule: string, problem: string | undefined): boolean {
    if (problem) this.add(path, rule, problem);
    return problem === undefined;
  }
}
