// vcsim accepts ShutdownGuest whether or not VMware Tools runs, so the refusal a
// real vCenter gives (ToolsUnavailable) is checked here, on the mapping itself.
import { describe, expect, it } from 'vitest';
import { shutdownRefusal } from './vm-operations.js';

describe('shutdownRefusal', () => {
  it('turns ToolsUnavailable into ToolsNotRunning, saying what to do', () => {
    const refusal = shutdownRefusal('web-1', 'ToolsUnavailable')?.('poweredOn');
    expect(refusal?.type).toBe('ToolsNotRunning');
    expect(refusal?.nonRetryable).toBe(true);
    expect(refusal?.message).toBe(
      'VM web-1: VMware Tools is not running in the guest, so it cannot be asked to shut down; start VMware Tools or power the VM off (poweroff)',
    );
  });

  it('names the power state for InvalidPowerState (a suspended VM is pointed at poweroff)', () => {
    const refusal = shutdownRefusal('web-1', 'InvalidPowerState')?.('suspended');
    expect(refusal?.type).toBe('InvalidPowerState');
    expect(refusal?.message).toBe('VM web-1 is suspended: only a powered-on VM can be shut down; power it off (poweroff) instead');
  });

  it('leaves every other fault to the caller', () => {
    expect(shutdownRefusal('web-1', 'NoPermission')).toBeUndefined();
    expect(shutdownRefusal('web-1', undefined)).toBeUndefined();
  });
});
