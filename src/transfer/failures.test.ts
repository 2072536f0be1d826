import { describe, expect, it } from 'vitest';
import { ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../core/errors.js';
import { classifyTransferError, failure } from './failures.js';

describe('classifyTransferError', () => {
  it('passes a SizeMismatch through with its type, message and finality', () => {
    const f = failure(ErrorType.SizeMismatch, 'https://h/folder/d-flat.vmdk: expected 10 bytes, but the body ended after 9 bytes', true);
    const c = classifyTransferError(f, 'https://h/folder/d-flat.vmdk?dcPath=x&token=secret');
    expect(c.type).toBe('SizeMismatch');
    expect(c.nonRetryable).toBe(true);
    expect(c.message).toBe(f.message);
    expect(NON_RETRYABLE_ERROR_TYPES).toContain('SizeMismatch');
  });

  it('keeps the query string (tokens) out of what it builds', () => {
    const c = classifyTransferError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'https://h/nfc/disk-0.vmdk?token=secret');
    expect(c.type).toBe('TransferFailed');
    expect(c.nonRetryable).toBe(false);
    expect(c.message).toBe('https://h/nfc/disk-0.vmdk: socket hang up (ECONNRESET)');
  });
});
