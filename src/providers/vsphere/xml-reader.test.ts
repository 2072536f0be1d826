// readXml must read SOAP exactly as the fast-xml-parser configuration in xml.ts does
// (it replaced it on the hot path for speed), except that it drops whitespace-only
// text between child elements.
import { describe, expect, it } from 'vitest';
import { readXml } from './xml-reader.js';
import { xmlParser } from './xml.js';

function dropWhitespaceText(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(dropWhitespaceText);
  if (typeof x !== 'object' || x === null) return x;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(x)) {
    if (
      k === '#text' &&
      typeof v === 'string' &&
      v.trim() === '' &&
      Object.keys(x).some((o) => !o.startsWith('@_') && o !== '#text')
    )
      continue;
    out[k] = dropWhitespaceText(v);
  }
  return out;
}

const SAMPLES = [
  '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-1</obj>\n<propSet><name>name</name><val xsi:type="xsd:string">A &amp; B &lt;x&gt;</val></propSet><propSet><name>config.hardware.device</name><val xsi:type="ArrayOfVirtualDevice"><VirtualDevice xsi:type="VirtualDisk"><key>2000</key><deviceInfo><label>Keyboard </label><summary></summary></deviceInfo><backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[ds] a/b.vmdk</fileName><thinProvisioned>true</thinProvisioned></backing></VirtualDevice></val></propSet></objects><token>42</token></returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>',
  '<a><b x=\'1\' y="2"/><b>t</b><c/><!-- note --><d><![CDATA[<raw> & stuff]]></d><e attr="v"></e></a>',
];

describe('readXml', () => {
  it.each(SAMPLES.map((s, i) => [i, s]))('reads sample %i like fast-xml-parser', (_i, xml) => {
    expect(dropWhitespaceText(readXml(xml))).toEqual(dropWhitespaceText(xmlParser.parse(xml)));
  });

  it('decodes numeric character references (XML requires it)', () => {
    expect(readXml('<v>&#233;&#x41;&amp;lt;</v>')).toEqual({ v: 'éA&lt;' });
  });

  it('rejects unbalanced XML instead of guessing', () => {
    expect(() => readXml('<a><b>')).toThrow(/unbalanced/);
    expect(() => readXml('<a></a></b>')).toThrow(/unbalanced/);
  });
});
