/**
 * A small strict XML parser, enough for AWS's CustomerGatewayConfiguration document: elements,
 * attributes, text, the five predefined entities and numeric character references, comments,
 * CDATA, and the XML declaration. No DTD (so no entity can expand), no other processing
 * instruction, no namespaces beyond treating "a:b" as a name. Why our own: see
 * docs/decisions/0021-xml-parser.md. Errors give line and column, and the open element.
 */

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlNode[];
  line: number;
  column: number;
}

export type XmlNode = XmlElement | { text: string };

export class XmlError extends Error {
  readonly line: number;
  readonly column: number;
  constructor(message: string, line: number, column: number) {
    super(`line ${line}, column ${column}: ${message}`);
    this.name = "XmlError";
    this.line = line;
    this.column = column;
  }
}

/** Deeper than any real configuration; bounds the work a hostile document can cause. */
const MAX_DEPTH = 64;
const NAME = /[A-Za-z_:][A-Za-z0-9._:-]*/y;
const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", apos: "'", quot: '"' };

export function isElement(node: XmlNode): node is XmlElement {
  return "name" in node;
}

/** The document's root element; throws XmlError on anything that is not well-formed. */
export function parseXml(input: string): XmlElement {
  return new Parser(input).document();
}

class Parser {
  readonly #s: string;
  #i = 0;
  readonly #stack: XmlElement[] = [];

  constructor(input: string) {
    this.#s = input.startsWith("\ufeff") ? input.slice(1) : input;
  }

  document(): XmlElement {
    if (/^<\?xml[ \t\r\n]/.test(this.#s)) this.#declaration();
    this.#misc();
    if (this.#i >= this.#s.length) this.#fail("no root element: the document is empty");
    if (this.#s[this.#i] !== "<") this.#fail("text before the root element: is this XML?");
    const root = this.#element();
    this.#misc();
    if (this.#i < this.#s.length) this.#fail(`content after the root element </${root.name}>`);
    return root;
  }

  #position(at = this.#i): { line: number; column: number } {
    const before = this.#s.slice(0, at);
    const line = before.split("\n").length;
    return { line, column: at - before.lastIndexOf("\n") };
  }

  #fail(message: string, at = this.#i): never {
    const { line, column } = this.#position(at);
    const open = this.#stack.at(-1);
    throw new XmlError(open ? `${message} (in <${open.name}>)` : message, line, column);
  }

  #startsWith(text: string): boolean {
    return this.#s.startsWith(text, this.#i);
  }

  #expect(text: string, what = `"${text}"`): void {
    if (!this.#startsWith(text)) this.#fail(`expected ${what}`);
    this.#i += text.length;
  }

  #spaces(): boolean {
    const start = this.#i;
    while (/[ \t\r\n]/.test(this.#s[this.#i] ?? "")) this.#i++;
    return this.#i > start;
  }

  #name(): string {
    NAME.lastIndex = this.#i;
    const m = NAME.exec(this.#s);
    if (!m) this.#fail("expected a name");
    this.#i += m[0].length;
    return m[0];
  }

  /** `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`, only at the very start. */
  #declaration(): void {
    this.#i = 5;
    const attributes = this.#attributes("?>");
    this.#expect("?>");
    const { version, encoding, ...rest } = attributes;
    if (version === undefined || !/^1\.\d$/.test(version))
      this.#fail('the XML declaration needs version="1.x"', 0);
    if (encoding !== undefined && !/^utf-?8$/i.test(encoding))
      this.#fail(`encoding ${JSON.stringify(encoding)} is not supported; only UTF-8 is`, 0);
    const extra = Object.keys(rest).filter((k) => k !== "standalone");
    if (extra.length > 0) this.#fail(`unknown attribute ${extra[0]} in the XML declaration`, 0);
  }

  /** Whitespace and comments around the root; refuses DTDs and other processing instructions. */
  #misc(): void {
    for (;;) {
      this.#spaces();
      if (this.#startsWith("<!--")) this.#comment();
      else if (this.#startsWith("<!DOCTYPE")) this.#fail("a DTD (<!DOCTYPE) is not accepted");
      else if (/^<\?xml[ \t\r\n?]/.test(this.#s.slice(this.#i, this.#i + 6)))
        this.#fail("the XML declaration must come first");
      else if (this.#startsWith("<?")) this.#fail("processing instructions are not accepted");
      else return;
    }
  }

  #comment(): void {
    const end = this.#s.indexOf("--", this.#i + 4);
    if (end < 0) this.#fail("unterminated comment");
    if (this.#s[end + 2] !== ">") this.#fail('"--" inside a comment', end);
    this.#i = end + 3;
  }

  #attributes(close: string): Record<string, string> {
    const attributes: Record<string, string> = {};
    for (;;) {
      const spaced = this.#spaces();
      if (this.#startsWith(close) || this.#startsWith("/>") || this.#startsWith(">"))
        return attributes;
      if (!spaced) this.#fail("expected whitespace between attributes");
      const at = this.#i;
      const name = this.#name();
      this.#spaces();
      this.#expect("=", `"=" after attribute ${name}`);
      this.#spaces();
      const quote = this.#s[this.#i];
      if (quote !== '"' && quote !== "'") this.#fail(`the value of ${name} must be quoted`);
      const end = this.#s.indexOf(quote, this.#i + 1);
      if (end < 0) this.#fail(`unterminated value of attribute ${name}`);
      const raw = this.#s.slice(this.#i + 1, end);
      const lt = raw.indexOf("<");
      if (lt >= 0) this.#fail(`"<" in the value of attribute ${name}`, this.#i + 1 + lt);
      if (Object.hasOwn(attributes, name)) this.#fail(`attribute ${name} appears twice`, at);
      attributes[name] = this.#decode(raw, this.#i + 1);
      this.#i = end + 1;
    }
  }

  /** Iterative, so nesting depth costs no stack; MAX_DEPTH bounds it anyway. */
  #element(): XmlElement {
    let root: XmlElement | undefined;
    do {
      if (this.#startsWith("</")) {
        const at = this.#i;
        this.#i += 2;
        const name = this.#name();
        this.#spaces();
        this.#expect(">", `">" to close </${name}`);
        const open = this.#stack.pop();
        if (!open || open.name !== name) {
          if (open) this.#stack.push(open);
          this.#fail(`</${name}> does not match <${open?.name}>`, at);
        }
        if (this.#stack.length === 0) root = open;
      } else if (this.#startsWith("<!--")) {
        this.#comment();
      } else if (this.#startsWith("<![CDATA[")) {
        const end = this.#s.indexOf("]]>", this.#i);
        if (end < 0) this.#fail("unterminated CDATA section");
        this.#text(this.#s.slice(this.#i + 9, end));
        this.#i = end + 3;
      } else if (this.#startsWith("<!") || this.#startsWith("<?")) {
        this.#fail("declarations and processing instructions are not accepted inside elements");
      } else if (this.#startsWith("<")) {
        const at = this.#i;
        this.#i++;
        const name = this.#name();
        const attributes = this.#attributes(">");
        const { line, column } = this.#position(at);
        const element: XmlElement = { name, attributes, children: [], line, column };
        this.#stack.at(-1)?.children.push(element);
        if (this.#startsWith("/>")) {
          this.#i += 2;
          if (this.#stack.length === 0) root = element;
        } else {
          this.#expect(">", `">" to end <${name}>`);
          if (this.#stack.length >= MAX_DEPTH) this.#fail(`elements nest deeper than ${MAX_DEPTH}`);
          this.#stack.push(element);
        }
      } else if (this.#i >= this.#s.length) {
        this.#fail(`the document ends inside <${this.#stack.at(-1)?.name}>`);
      } else {
        const end = this.#s.indexOf("<", this.#i);
        const stop = end < 0 ? this.#s.length : end;
        const raw = this.#s.slice(this.#i, stop);
        const gt = raw.indexOf("]]>");
        if (gt >= 0) this.#fail('"]]>" in text', this.#i + gt);
        this.#text(this.#decode(raw, this.#i));
        this.#i = stop;
      }
    } while (root === undefined);
    return root;
  }

  #text(text: string): void {
    const children = this.#stack.at(-1)?.children;
    if (!children) return;
    const last = children.at(-1);
    if (last && !isElement(last)) last.text += text;
    else children.push({ text });
  }

  /** Entity and character references; a bare "&" is an error, as XML says. */
  #decode(raw: string, offset: number): string {
    return raw.replace(/&([^;&<\s]*)(;?)/g, (whole, ref: string, semi: string, at: number) => {
      const where = offset + at;
      if (!semi) this.#fail('"&" must start a reference such as &amp;', where);
      if (ref in ENTITIES) return ENTITIES[ref] as string;
      const m = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(ref);
      if (!m)
        this.#fail(
          `unknown entity ${whole}: only &lt; &gt; &amp; &apos; &quot; are defined`,
          where,
        );
      const code = m[1] !== undefined ? Number.parseInt(m[1], 16) : Number(m[2]);
      const allowed =
        code === 0x9 ||
        code === 0xa ||
        code === 0xd ||
        (code >= 0x20 && code <= 0xd7ff) ||
        (code >= 0xe000 && code <= 0xfffd) ||
        (code >= 0x10000 && code <= 0x10ffff);
      if (!allowed) this.#fail(`character reference ${whole} is not an XML character`, where);
      return String.fromCodePoint(code);
    });
  }
}
