import t from "tap";
import { isElement, parseXml, type XmlElement, XmlError } from "../../common/aws-vpn/xml.ts";

/** The small strict XML parser: what it reads, and where it says a document is broken. */

/** Elements as [name, attributes, children], text as strings: easy to compare. */
function shape(el: XmlElement): unknown {
  return [el.name, el.attributes, el.children.map((c) => (isElement(c) ? shape(c) : c.text))];
}

t.test("well-formed documents", async (t) => {
  t.same(shape(parseXml("<a/>")), ["a", {}, []]);
  t.same(shape(parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<a x="1" y=\'2\'>t</a>\n')), [
    "a",
    { x: "1", y: "2" },
    ["t"],
  ]);
  t.same(shape(parseXml("\ufeff<a><b>1</b><b>2</b><c /></a>")), [
    "a",
    {},
    [
      ["b", {}, ["1"]],
      ["b", {}, ["2"]],
      ["c", {}, []],
    ],
  ]);
  t.same(shape(parseXml("  \n<a >x</a >  \n")), ["a", {}, ["x"]], "whitespace around the root");
  const root = parseXml("<a>\n  <b/>\n</a>");
  const b = root.children.find(isElement);
  t.equal(b?.line, 2, "elements know their line");
  t.equal(b?.column, 3, "and column");
});

t.test("the five entities, character references, CDATA", async (t) => {
  const root = parseXml(
    '<a v="&lt;&amp;&quot;&apos;&gt;">&lt;b&gt; &amp; &#65;&#x42; <![CDATA[<raw & ok>]]></a>',
  );
  t.same(root.attributes, { v: "<&\"'>" });
  t.same(root.children, [{ text: "<b> & AB <raw & ok>" }], "text runs are joined");
});

t.test("comments are skipped, anywhere", async (t) => {
  const root = parseXml("<!-- before --><a><!-- in -->x<!-- - dash ok --></a><!-- after -->");
  t.same(shape(root), ["a", {}, ["x"]]);
});

t.test("malformed input is refused with line, column and the open element", async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ["empty", "", /no root element/],
    ["plain text", "Amazon VPN config", /line 1, column 1: text before the root element/],
    ["unclosed", "<a>\n<b>x</b>\n", /line 3, column 1: the document ends inside <a>/],
    ["mismatch", "<a>\n  <b>x</c>\n</a>", /line 2, column 7: <\/c> does not match <b> \(in <b>\)/],
    ["two roots", "<a/><b/>", /content after the root element/],
    ["text after root", "<a/>x", /content after the root element/],
    ["unknown entity", "<a>&nbsp;</a>", /line 1, column 4: unknown entity &nbsp;/],
    ["bare ampersand", "<a>fish & chips</a>", /"&" must start a reference/],
    ["bad char ref", "<a>&#0;</a>", /not an XML character/],
    ["DTD", '<!DOCTYPE a [<!ENTITY x "y">]><a/>', /DTD \(<!DOCTYPE\) is not accepted/],
    ["late declaration", '<!-- c --><?xml version="1.0"?><a/>', /declaration must come first/],
    ["PI", "<?php echo 1 ?><a/>", /processing instructions are not accepted/],
    ["PI inside", "<a><?x y?></a>", /not accepted inside elements \(in <a>\)/],
    ["bad encoding", '<?xml version="1.0" encoding="ISO-8859-1"?><a/>', /only UTF-8/],
    ["no version", '<?xml encoding="UTF-8"?><a/>', /version="1.x"/],
    ["unquoted attribute", "<a x=1/>", /must be quoted/],
    ["duplicate attribute", '<a x="1" x="2"/>', /attribute x appears twice/],
    ["< in attribute", '<a x="<"/>', /"<" in the value/],
    ["no space between attributes", '<a x="1"y="2"/>', /whitespace between attributes/],
    ["double dash in comment", "<a><!-- x -- y --></a>", /"--" inside a comment/],
    ["unterminated comment", "<a><!-- x", /unterminated comment/],
    ["bad name", "<1a/>", /expected a name/],
    ["]]> in text", "<a>x]]>y</a>", /"]]>" in text/],
  ];
  for (const [name, input, expected] of cases) {
    const error = t.throws(() => parseXml(input), XmlError, name) as unknown;
    if (error instanceof XmlError) {
      t.match(error.message, expected, name);
      t.ok(error.line >= 1 && error.column >= 1, `${name}: has a position`);
    }
  }
});

t.test("nesting is bounded", async (t) => {
  t.doesNotThrow(() => parseXml(`${"<a>".repeat(64)}${"</a>".repeat(64)}`));
  t.throws(() => parseXml(`${"<a>".repeat(65)}${"</a>".repeat(65)}`), /nest deeper than 64/);
});
