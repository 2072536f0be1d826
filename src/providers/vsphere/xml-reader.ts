// A minimal, fast XML reader for SOAP responses. It yields the same shape as the
// fast-xml-parser configuration in xml.ts (attributes as '@_name', text as '#text'
// or a bare string, repeated elements as arrays), at several times its speed:
// discovery of 1000 VMs is ~8 MB of XML, and parsing it was most of our time.
// SOAP responses use no DTDs, processing instructions beyond the declaration, or
// mixed content; comments and CDATA are handled anyway. Whitespace-only text next
// to child elements is dropped; text inside a leaf is kept verbatim.
type Obj = Record<string, unknown>;

interface Frame {
  name: string;
  obj: Obj | undefined; // created on first attribute or child
  text: string;
  hasChildren: boolean;
}

const ENTITY = /&(?:lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
const NAMED: Record<string, string> = {
  '&lt;': '<',
  '&gt;': '>',
  '&amp;': '&',
  '&quot;': '"',
  '&apos;': "'",
};
function decode(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(ENTITY, (e) => {
    const named = NAMED[e];
    if (named) return named;
    const code = e[2] === 'x' ? parseInt(e.slice(3, -1), 16) : parseInt(e.slice(2, -1), 10);
    return String.fromCodePoint(code);
  });
}

const ATTR = /([^\s=/]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

function addChild(parent: Frame, name: string, value: unknown): void {
  parent.hasChildren = true;
  const obj = (parent.obj ??= {});
  const existing = obj[name];
  if (existing === undefined) obj[name] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else obj[name] = [existing, value];
}

function finish(frame: Frame): unknown {
  if (!frame.obj) return decode(frame.text);
  if (!frame.hasChildren && frame.text !== '') frame.obj['#text'] = decode(frame.text);
  else if (frame.hasChildren && frame.text.trim() !== '') frame.obj['#text'] = decode(frame.text);
  return frame.obj;
}

export function readXml(xml: string): Obj {
  const root: Frame = { name: '', obj: {}, text: '', hasChildren: false };
  const stack: Frame[] = [root];
  let top = root;
  let i = 0;
  const n = xml.length;
  while (i < n) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) break;
    if (lt > i) top.text += xml.slice(i, lt);
    const c = xml.charCodeAt(lt + 1);
    if (c === 47 /* / */) {
      const gt = xml.indexOf('>', lt);
      if (gt < 0) throw new Error('unterminated closing tag');
      const frame = stack.pop();
      const parent = stack[stack.length - 1];
      if (!frame || !parent || frame === root) throw new Error('unbalanced XML');
      addChild(parent, frame.name, finish(frame));
      top = parent;
      i = gt + 1;
    } else if (c === 63 /* ? */) {
      const end = xml.indexOf('?>', lt);
      i = end < 0 ? n : end + 2;
    } else if (c === 33 /* ! */) {
      if (xml.startsWith('<![CDATA[', lt)) {
        const end = xml.indexOf(']]>', lt);
        top.text += xml.slice(lt + 9, end < 0 ? n : end).replace(/&/g, '&amp;'); // kept literal through decode()
        i = end < 0 ? n : end + 3;
      } else {
        const end = xml.indexOf(xml.startsWith('<!--', lt) ? '-->' : '>', lt);
        i = end < 0 ? n : end + (xml.startsWith('<!--', lt) ? 3 : 1);
      }
    } else {
      const gt = xml.indexOf('>', lt);
      if (gt < 0) throw new Error('unterminated tag');
      const selfClosing = xml.charCodeAt(gt - 1) === 47;
      const body = xml.slice(lt + 1, selfClosing ? gt - 1 : gt);
      const space = body.search(/\s/);
      const name = space < 0 ? body : body.slice(0, space);
      const frame: Frame = { name, obj: undefined, text: '', hasChildren: false };
      if (space >= 0) {
        ATTR.lastIndex = space;
        for (let m = ATTR.exec(body); m; m = ATTR.exec(body)) {
          (frame.obj ??= {})[`@_${m[1] ?? ''}`] = decode(m[2] ?? m[3] ?? '');
        }
      }
      if (selfClosing) addChild(top, name, finish(frame));
      else {
        stack.push(frame);
        top = frame;
      }
      i = gt + 1;
    }
  }
  if (stack.length !== 1) throw new Error('unbalanced XML');
  return root.obj ?? {};
}
