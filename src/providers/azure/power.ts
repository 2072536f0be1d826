// power_off for an Azure VM: deallocate it (Azure shuts the guest down, then
// releases the host), so that its disks no longer change while they are
// snapshotted. A VM already deallocated is left alone; one that takes longer than
// the job's timeout fails the prepare (Timeout) and is left as Azure has it.
import type { ComputeManagementClient } from '@azure/arm-compute';
import { ErrorType } from '../../core/errors.js';
import { azureCall, failure } from './errors.js';
import { isDeallocated } from './hardware.js';
import type { ResourceId } from './ids.js';

export async function deallocateVm(client: ComputeManagementClient, vm: ResourceId, o: { timeoutMs: number; pollIntervalMs?: number }): Promise<void> {
  const subject = `VM "${vm.name}" in resource group ${vm.resourceGroup}`;
  const view = await azureCall({ action: 'Microsoft.Compute/virtualMachines/read', subject }, () => client.virtualMachines.get(vm.resourceGroup, vm.name, { expand: 'instanceView' }));
  if (isDeallocated(view.instanceView?.statuses)) return;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), o.timeoutMs);
  try {
    await azureCall({ action: 'Microsoft.Compute/virtualMachines/deallocate/action', subject }, () =>
      client.virtualMachines.beginDeallocateAndWait(vm.resourceGroup, vm.name, { ...(o.pollIntervalMs ? { updateIntervalInMs: o.pollIntervalMs } : {}), abortSignal: abort.signal }),
    );
  } catch (err) {
    if (abort.signal.aborted) throw failure(ErrorType.Timeout, `Azure: ${subject} was not deallocated within ${Math.round(o.timeoutMs / 1000)} s`, false);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
