// A small XML reader: enough for Pascal VOC annotations (elements, text, comments, processing
// instructions, CDATA, the five named entities and numeric character references; attributes are
// skipped). Every error names the source and the line.

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
      if (stack.length > 0) stack[stack.length - 1].text += decodeEntities(text, () => fail(pos, 'bad entity'));
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
    } else if (xml.startsWith('<?', pos) || xml.startsWith('<!', pos)) {
      // <?xml ...?> declaration or <!DOCTYPE ...>: nothing we need.
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

function decodeEntities(text: string, onBad: () => never): string {
  return text.replace(/&([^;&\s]*);?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) return onBad();
    if (ref in NAMED_ENTITIES) return NAMED_ENTITIES[ref];
    const code = ref.startsWith('#x') ? parseInt(ref.slice(2), 16) : ref.startsWith('#') ? parseInt(ref.slice(1), 10) : NaN;
    if (!Number.isInteger(code) || code < 0 || code > 0x10ffff) return onBad();
    return String.fromCodePoint(code);
  });
}

/** The first direct child element called `name`. */
export function childNamed(parent: XmlElement, name: string): XmlElement | undefined {
  return parent.children.find((c) => c.name === name);
}
