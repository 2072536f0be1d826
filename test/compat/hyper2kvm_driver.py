"""Drives hyper2kvm's own HyperCtlRunner (the installed package, unchanged) against a
hypervisord, the way hyper2kvm does: hyperctl as a subprocess, the daemon address
only in the environment (HYPERVISORD_URL), since hyper2kvm never passes -daemon.

Usage: python hyper2kvm_driver.py VM_PATH OUTPUT_DIR
Environment: HYPERCTL_PATH (the hyperctl to run), HYPERVISORD_URL.
Prints one JSON line: {"daemon": ..., "job_id": ..., "query_output": ...} or {"error": ...}.

Loading: hyper2kvm/__init__.py (and hyper2kvm/vmware/__init__.py, core/__init__.py)
import the whole toolkit (rich, pyvmomi, azure, ...), which the hyperctl transport
never uses: hyperctl_common.py itself needs only the standard library and
hyper2kvm/core/exceptions.py. So the driver registers those four packages as empty
package modules whose __path__ is the installed package's own directory; Python
then finds and runs the installed hyperctl_common.py and core/exceptions.py as
they are, without running any package __init__. No file of hyper2kvm is changed.
"""

import importlib
import importlib.util
import json
import os
import sys
import types


def load_hyperctl_common():
    spec = importlib.util.find_spec("hyper2kvm")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("hyper2kvm is not installed in this Python (run scripts/install-hyper2kvm.sh)")
    root = list(spec.submodule_search_locations)[0]
    for name, sub in (
        ("hyper2kvm", ""),
        ("hyper2kvm.core", "core"),
        ("hyper2kvm.vmware", "vmware"),
        ("hyper2kvm.vmware.transports", os.path.join("vmware", "transports")),
    ):
        package = types.ModuleType(name)
        package.__path__ = [os.path.join(root, sub)]
        package.__package__ = name
        sys.modules[name] = package
    return importlib.import_module("hyper2kvm.vmware.transports.hyperctl_common")


def main() -> int:
    vm_path, output_dir = sys.argv[1], sys.argv[2]
    hyperctl_common = load_hyperctl_common()
    runner = hyperctl_common.HyperCtlRunner(
        daemon_url=os.environ["HYPERVISORD_URL"],
        hyperctl_path=os.environ["HYPERCTL_PATH"],
        timeout=300,
    )
    try:
        daemon = runner.check_daemon_status()
        # export_vm submits, then polls `hyperctl query -id` (every 5 s in 0.2.1) until
        # the output says completed, and raises on failed/cancelled.
        result = runner.export_vm(vm_path, output_dir, wait=True)
    except Exception as err:  # VMwareError and anything else hyper2kvm would surface
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        return 1
    print(json.dumps({"daemon": daemon["status"], "job_id": result.get("job_id"), "query_output": result.get("output", "")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
