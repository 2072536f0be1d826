// Get Page Ranges answers as Azure's REST reference shows them: ranges with a
// NextMarker when the answer was cut (maxresults), an empty list, and what a
// careful reader refuses (ranges out of order, not whole pages, not numbers).
// Azurite answers every call whole, so the marker is checked here.
import { describe, expect, it } from 'vitest';
import { parsePageList } from './page-blob-source.js';

const doc = (inner: string) => `<?xml version="1.0" encoding="utf-8"?>\n<PageList>${inner}</PageList>`;

describe('parsePageList', () => {
  it('reads ranges in order and the marker of the next page', () => {
    const page = parsePageList(
      doc('<PageRange><Start>0</Start><End>511</End></PageRange><ClearRange><Start>512</Start><End>1023</End></ClearRange><PageRange><Start>1048576</Start><End>5243391</End></PageRange><NextMarker>2!MTAw</NextMarker>'),
    );
    expect(page).toEqual({ ranges: [{ start: 0, end: 511 }, { start: 1048576, end: 5243391 }], nextMarker: '2!MTAw' });
  });

  it('an empty list, and an empty marker, end the listing', () => {
    expect(parsePageList(doc(''))).toEqual({ ranges: [] });
    expect(parsePageList('<?xml version="1.0"?><PageList />')).toEqual({ ranges: [] });
    expect(parsePageList(doc('<PageRange><Start>512</Start><End>1023</End></PageRange><NextMarker />'))).toEqual({ ranges: [{ start: 512, end: 1023 }] });
  });

  it('offsets past 4 GiB stay exact', () => {
    const start = 2 ** 40;
    expect(parsePageList(doc(`<PageRange><Start>${start}</Start><End>${start + 511}</End></PageRange>`)).ranges).toEqual([{ start, end: start + 511 }]);
  });

  it.each([
    ['unordered', '<PageRange><Start>1024</Start><End>1535</End></PageRange><PageRange><Start>0</Start><End>511</End></PageRange>'],
    ['overlapping', '<PageRange><Start>0</Start><End>1023</End></PageRange><PageRange><Start>512</Start><End>1535</End></PageRange>'],
    ['not whole pages', '<PageRange><Start>0</Start><End>100</End></PageRange>'],
    ['not numbers', '<PageRange><Start>0x0</Start><End>511</End></PageRange>'],
    ['negative', '<PageRange><Start>-512</Start><End>511</End></PageRange>'],
    ['missing an end', '<PageRange><Start>0</Start></PageRange>'],
  ])('refuses ranges %s (retryable: a broken answer, not a broken disk)', (_, inner) => {
    let err: unknown;
    try {
      parsePageList(doc(inner), 'page blob x');
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toMatch(/page blob x: Get Page Ranges answered a malformed or unordered range/);
    expect((err as { nonRetryable?: boolean }).nonRetryable).toBe(false);
  });

  it('refuses an answer that is not a page list', () => {
    expect(() => parsePageList('<Error><Code>x</Code></Error>')).toThrow(/without a PageList/);
  });
});
