// A small XML reader: enough for Pascal VOC annotations (elements, text, comments, processing
// instructions, CDATA, the five named entities and numeric character references; attributes are
// skipped). Every error names the source and the line. A DOCTYPE with declarations of its own
// (entities: the "billion laughs", external files) is refused, not expanded; one without them is
// skipped.

export interface XmlElement {
  name: string;
  children: XmlElement[];
  /** The character data directly inside this element (not inside its children), entities decoded. */
  text: string;
}

/** A whole document as its root element; malformed XML is an error naming `source` and the line. */
export function parseXml(xml: string, source: string): XmlElement {
  const lineAt = (pos: number): number => xml.slice(0, pos).split('\n').length;
  const fail = (pos: number, what: string): never => {
    throw new Error(`${source}: malformed XML at line ${lineAt(pos)}: ${what}`);
  };
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  let pos = 0;
  while (pos < xml.length) {
    const lt = xml.indexOf('<', pos);
    const textEnd = lt === -1 ? xml.length : lt;
    if (textEnd > pos) {
      const text = xml.slice(pos, textEnd);
      if (stack.length > 0) stack[stack.length - 1].text += decodeEntities(text, (what) => fail(pos, what));
      else if (text.trim() !== '') fail(pos, 'text outside the root element');
    }
    if (lt === -1) break;
    pos = lt;
    if (xml.startsWith('<!--', pos)) {
      const end = xml.indexOf('-->', pos + 4);
      if (end === -1) fail(pos, 'unterminated comment');
      pos = end + 3;
    } else if (xml.startsWith('<![CDATA[', pos)) {
      const end = xml.indexOf(']]>', pos + 9);
      if (end === -1) fail(pos, 'unterminated CDATA');
      if (stack.length === 0) fail(pos, 'CDATA outside the root element');
      stack[stack.length - 1].text += xml.slice(pos + 9, end);
      pos = end + 3;
    } else if (xml.startsWith('<!DOCTYPE', pos)) {
      // <!DOCTYPE name SYSTEM "..." [ declarations ]>: quoted strings may hold '>' and '[', the
      // declarations sit between [ and ]. Without declarations it says nothing we need.
      let end = pos + 9;
      let quote: string | null = null;
      let subset = false;
      while (end < xml.length && (quote !== null || xml[end] !== '>')) {
        const ch = xml[end];
        if (quote !== null) {
          if (ch === quote) quote = null;
        } else if (ch === '"' || ch === "'") {
          quote = ch;
        } else if (ch === '[') {
          subset = true;
          break;
        }
        end++;
      }
      if (subset) fail(pos, 'a DOCTYPE with declarations of its own (entities) is not supported in annotations; remove the DOCTYPE');
      if (end >= xml.length) fail(pos, 'unterminated DOCTYPE');
      pos = end + 1;
    } else if (xml.startsWith('<?', pos) || xml.startsWith('<!', pos)) {
      // <?xml ...?> declaration, or another declaration: nothing we need.
      const end = xml.indexOf('>', pos);
      if (end === -1) fail(pos, 'unterminated declaration');
      pos = end + 1;
    } else if (xml.startsWith('</', pos)) {
      const end = xml.indexOf('>', pos);
      if (end === -1) fail(pos, 'unterminated closing tag');
      const name = xml.slice(pos + 2, end).trim();
      const open = stack.pop();
      if (open === undefined) fail(pos, `closing tag </${name}> without an opening tag`);
      else if (open.name !== name) fail(pos, `closing tag </${name}> does not match <${open.name}>`);
      pos = end + 1;
    } else {
      // An opening tag <name attr="v" ...> or an empty element <name ... />; a quoted attribute
      // value may contain '>', so scan to the first '>' outside quotes.
      let end = pos + 1;
      let quote: string | null = null;
      while (end < xml.length && (quote !== null || xml[end] !== '>')) {
        const ch = xml[end];
        if (quote !== null) {
          if (ch === quote) quote = null;
        } else if (ch === '"' || ch === "'") {
          quote = ch;
        }
        end++;
      }
      if (end >= xml.length) fail(pos, 'unterminated tag');
      const selfClosing = xml[end - 1] === '/';
      const inner = xml.slice(pos + 1, selfClosing ? end - 1 : end);
      const name = inner.split(/\s/, 1)[0];
      if (!/^[A-Za-z_][\w.:-]*$/.test(name)) fail(pos, `bad tag name "${name}"`);
      const element: XmlElement = { name, children: [], text: '' };
      if (stack.length > 0) stack[stack.length - 1].children.push(element);
      else if (root === null) root = element;
      else fail(pos, `second root element <${name}>`);
      if (!selfClosing) stack.push(element);
      pos = end + 1;
    }
  }
  if (stack.length > 0) fail(xml.length, `<${stack[stack.length - 1].name}> is never closed (file cut short?)`);
  if (root === null) throw new Error(`${source}: no XML element found`);
  return root;
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Whether XML 1.0 allows this character in a document (its production Char): no NUL, no other control but tab, newline and return, no surrogate. */
function isXmlChar(code: number): boolean {
  return code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
}

function decodeEntities(text: string, onBad: (what: string) => never): string {
  return text.replace(/&([^;&\s]*);?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) return onBad(`"${whole.slice(0, 20)}" is not an entity reference (a bare '&' must be written &amp;)`);
    if (Object.prototype.hasOwnProperty.call(NAMED_ENTITIES, ref)) return NAMED_ENTITIES[ref];
    // decimal or hexadecimal digits only: parseInt would read "&#12abc;" as 12
    const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(ref);
    if (m === null) return onBad(`unknown entity "${whole.slice(0, 20)}" (only &amp; &lt; &gt; &quot; &apos; and character references such as &#65; are known)`);
    const code = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2], 10);
    if (!isXmlChar(code)) return onBad(`character reference "${whole}" names a character XML does not allow`);
    return String.fromCodePoint(code);
  });
}

/** The first direct child element called `name`. */
export function childNamed(parent: XmlElement, name: string): XmlElement | undefined {
  return parent.children.find((c) => c.name === name);
}
